//! Bundles the ontology, the SHACL shapes and the example catalog into the binary, so that
//! `seam serve` can seed an empty store without the source tree, and the named SPARQL queries.
//! Every `*.ttl` file of `ontology/` and `examples/catalog/`, and every `*.rq` of `queries/`, is
//! picked up; adding one needs no code change. The web page's built files
//! (`registry/assets/web/`) are bundled as bytes.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn list(dir: &Path, ext: &str) -> Vec<String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    // A folder that cannot be read is a broken checkout: fail the build rather than bundle
    // nothing (a registry without its ontology and shapes would accept anything).
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.display().to_string())
        .collect();
    if files.is_empty() {
        panic!("no *.{ext} file in {}", dir.display());
    }
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    files
}

/// The files of `dir` ending in `.ext`, none being fine.
fn list_any(dir: &Path, ext: &str) -> Vec<String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let files: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.display().to_string())
        .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    files
}

fn main() {
    // Read when the script runs, not when it is compiled: Cargo reuses a compiled build script
    // for a checkout of the same workspace elsewhere (another clone sharing the target folder),
    // which must bundle its own files.
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let root = Path::new(&manifest).join("..");
    let mut code = String::new();
    for (name, dir, ext) in [
        ("ONTOLOGY", root.join("ontology"), "ttl"),
        ("CATALOG", root.join("examples").join("catalog"), "ttl"),
        ("QUERIES", root.join("queries"), "rq"),
    ] {
        let files = list(&dir, ext);
        let _ = writeln!(code, "/// Bundled `{}` files: (file name, contents).", dir.display());
        let _ = writeln!(code, "pub const {name}: &[(&str, &str)] = &[");
        for f in files {
            let file_name = Path::new(&f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(code, "    ({file_name:?}, include_str!({f:?})),");
        }
        let _ = writeln!(code, "];");
    }
    // The web page, as the front-end build left it (web/ builds into registry/assets/web/):
    // every file, as bytes, with its media type.
    let web = root.join("registry").join("assets").join("web");
    let mut assets: Vec<String> = ["html", "js", "css"]
        .iter()
        .flat_map(|ext| list_any(&web, ext))
        .collect();
    assets.sort();
    if !assets.iter().any(|f| f.ends_with("index.html")) {
        panic!(
            "no index.html in {} (build the page: npm --prefix web run build)",
            web.display()
        );
    }
    let _ = writeln!(
        code,
        "/// The web page's files (`registry/assets/web/`): (file name, media type, contents)."
    );
    let _ = writeln!(code, "pub const WEB: &[(&str, &str, &[u8])] = &[");
    for f in assets {
        let path = Path::new(&f);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let media = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "text/javascript; charset=utf-8",
        };
        let _ = writeln!(code, "    ({file_name:?}, {media:?}, include_bytes!({f:?})),");
    }
    let _ = writeln!(code, "];");
    let out = Path::new(&env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("bundled.rs");
    if let Err(e) = fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
