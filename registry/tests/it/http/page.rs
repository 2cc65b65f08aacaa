//! The web page's routes: `/` and `/ui/{file}` from the files compiled into the binary, with
//! their media types, a content security policy, revalidation by entity tag, HEAD, and problems
//! for what is not one of the page's files.

use reqwest::StatusCode;
use seam_registry::http::ServiceConfig;

use super::problem;
use crate::helpers::spawn_app;

#[test]
fn the_page_and_its_files_are_served_from_the_binary() {
    let app = spawn_app(ServiceConfig::default());
    let page = app.client.get(app.url("/")).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    let html = page.text().unwrap();
    // The page loads its script and style sheet from this service, nothing from elsewhere.
    assert!(html.contains("/ui/app.js") && html.contains("/ui/app.css"), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");

    let script = app.client.get(app.url("/ui/app.js")).send().unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let tag = script.headers()["etag"].to_str().unwrap().to_owned();
    assert!(!script.bytes().unwrap().is_empty());
    let again = app
        .client
        .get(app.url("/ui/app.js"))
        .header("If-None-Match", &tag)
        .send()
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("/ui/app.js"))
        .header("If-None-Match", "\"0000\"")
        .send()
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    let css = app.client.get(app.url("/ui/app.css")).send().unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // The query editor is a file of its own, loaded when the Query section opens.
    let editor = app.client.get(app.url("/ui/app-query.js")).send().unwrap();
    assert_eq!(editor.status(), StatusCode::OK);

    let head = app.client.head(app.url("/")).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "text/html; charset=utf-8");
    assert!(head.bytes().unwrap().is_empty());
}

#[test]
fn what_is_not_one_of_the_page_files_is_a_problem() {
    let app = spawn_app(ServiceConfig::default());
    for path in ["/ui/nope.js", "/ui/..%2FCargo.toml", "/ui/%2e%2e%2fbuild.rs", "/ui/"] {
        let body = problem(app.client.get(app.url(path)).send().unwrap(), StatusCode::NOT_FOUND);
        assert!(body["detail"].as_str().unwrap().contains("GET"), "{path}: {body}");
    }
    problem(
        app.client.post(app.url("/")).body("x").send().unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    );
}
