//! Parameters of a named query from outside (`GET /queries/{name}?…`, GraphQL, `seam deploy
//! --where`): every query's binding of any names and values, as typed terms joined into its
//! algebra; nothing a value holds may change the query.
#![no_main]

use std::sync::OnceLock;

use seam_registry::named::NamedQuery;
use seam_registry::{QueryLimits, Registry};

fn queries() -> &'static [NamedQuery] {
    static QUERIES: OnceLock<Vec<NamedQuery>> = OnceLock::new();
    QUERIES.get_or_init(|| seam_registry::named::all().unwrap_or_default())
}

/// An empty in-memory registry: the bound query is built, checked and run.
fn registry() -> Option<&'static Registry> {
    static REGISTRY: OnceLock<Option<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::in_memory().ok()).as_ref()
}

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // A query string: name=value&name=value, as the HTTP route decodes it.
    let given: Vec<(String, String)> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let Some(registry) = registry() else {
        return;
    };
    for query in queries() {
        if let Ok(bound) = query.bind(&given, &|short| Some(format!("https://w3id.org/seam/device/{short}"))) {
            let _ = registry.query_named(query, bound, &QueryLimits::default());
        }
    }
});
