//! The web page: `GET /` and `GET /ui/{file}`, served from the files compiled into the binary
//! (`registry/assets/web/`, built from `web/`). Nothing is fetched from elsewhere at run time.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::Problem;
use crate::bundled::WEB;

/// What the page may load and where it may connect: its own origin only. Styles allow inline
/// declarations (the editor and the matrix's row spacers set them); scripts do not.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The entity tag of each file: the files change only with the binary, and carry no hash in
/// their names, so a browser revalidates them (a 304 costs a round trip, never the bytes).
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        WEB.iter()
            .map(|(_, _, bytes)| {
                // FNV-1a: stable, dependency-free, and collisions only cost a stale page.
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for b in *bytes {
                    hash ^= u64::from(*b);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                format!("\"{hash:016x}\"")
            })
            .collect()
    })
}

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, Problem> {
    let Some(at) = WEB.iter().position(|(n, _, _)| *n == name) else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such resource",
            format!("{} {} is not one of the web page's files", req.method(), req.path()),
        ));
    };
    let (_, media, bytes) = WEB[at];
    let tag = &etags()[at];
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "same-origin"));
    if fresh {
        return Ok(response.finish());
    }
    response.content_type(media);
    // HEAD: the headers of GET, no body (actix-web strips it and keeps the length).
    Ok(response.body(bytes))
}

/// `GET /` (and `HEAD`): the page.
pub(super) async fn index(req: HttpRequest) -> Result<HttpResponse, Problem> {
    serve(&req, "index.html")
}

/// `GET /ui/{file}` (and `HEAD`): its scripts and styles.
pub(super) async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, Problem> {
    let name = path.into_inner();
    if name == "index.html" {
        return index(req).await;
    }
    serve(&req, &name)
}
