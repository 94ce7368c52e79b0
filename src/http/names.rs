//! Route templates and server span names, made once per route and method rather than on
//! every request.
//!
//! The first request of a route keeps its template (an `Arc<str>` every later request of the
//! route shares) and, per method, its span name `{METHOD} {route}` for the life of the
//! process: a `&'static str`, so that neither the span nor the request context copies it.
//! Route templates are few (the application's routes); past [`MAX_ROUTES`] of them, a request
//! gets its own copies, as before.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::headers::METHODS;

/// The most routes kept.
const MAX_ROUTES: usize = 1024;

struct Route {
    template: Arc<str>,
    names: [OnceLock<&'static str>; METHODS.len()],
}

type Routes = RwLock<HashMap<Box<str>, Route, rustc_hash::FxBuildHasher>>;

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| RwLock::new(HashMap::default()))
}

fn span_name(method: &str, route: &str) -> String {
    let mut name = String::with_capacity(method.len() + 1 + route.len());
    name.push_str(method);
    name.push(' ');
    name.push_str(route);
    name
}

/// The shared template of `route` and the span name of `method` on it.
pub(crate) fn route_and_name(method: &'static str, route: &str) -> (Arc<str>, Cow<'static, str>) {
    let Some(m) = METHODS.iter().position(|known| *known == method) else {
        return (Arc::from(route), Cow::Owned(span_name(method, route)));
    };
    let named = |r: &Route| {
        let name = r.names[m].get_or_init(|| Box::leak(span_name(method, route).into_boxed_str()));
        (Arc::clone(&r.template), Cow::Borrowed(*name))
    };
    if let Ok(known) = routes().read() {
        if let Some(r) = known.get(route) {
            return named(r);
        }
    }
    let Ok(mut known) = routes().write() else {
        return (Arc::from(route), Cow::Owned(span_name(method, route)));
    };
    if known.len() >= MAX_ROUTES && !known.contains_key(route) {
        return (Arc::from(route), Cow::Owned(span_name(method, route)));
    }
    let r = known.entry(route.into()).or_insert_with(|| Route {
        template: Arc::from(route),
        names: Default::default(),
    });
    named(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_and_method_gets_its_name_and_one_shared_template() {
        let (a, get) = route_and_name("GET", "/names/{id}");
        let (b, post) = route_and_name("POST", "/names/{id}");
        let (c, again) = route_and_name("GET", "/names/{id}");
        assert_eq!(get, "GET /names/{id}");
        assert_eq!(post, "POST /names/{id}");
        assert_eq!(again, "GET /names/{id}");
        assert!(matches!(again, Cow::Borrowed(_)));
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c));
        assert_eq!(&*a, "/names/{id}");
        let (_, other) = route_and_name("_OTHER", "/names/{id}");
        assert_eq!(other, "_OTHER /names/{id}");
    }
}
