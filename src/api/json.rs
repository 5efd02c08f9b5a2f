//! Request parsing under limits, and the one place responses (and errors) are rendered.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::store::{Cursor, PageRequest};
use crate::{Error, ErrorCode};

fn common_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    common_headers(res.headers_mut());
    res
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    // Room for a `start` answer (an authorize URL and a time) without growing the buffer;
    // `to_vec` starts at 128 bytes.
    let mut buf = Vec::with_capacity(512);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => with_body(status, "application/json", Bytes::from(buf)),
        Err(e) => error_response(&Error::server(e)),
    }
}

/// An empty response (204).
pub(crate) fn no_content() -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::NO_CONTENT;
    common_headers(res.headers_mut());
    res
}

/// The only writer of `{"error":{"code","message"}}`.
pub(crate) fn error_response(err: &Error) -> Response<Bytes> {
    if err.code() == ErrorCode::ServerError {
        tracing::error!(error = ?err, "server error");
    } else {
        tracing::trace!(target: "dravo_connect::rejection", code = err.code().as_str(), message = err.message(), "request rejected");
    }
    #[derive(Serialize)]
    struct Body<'a> {
        error: Inner<'a>,
    }
    #[derive(Serialize)]
    struct Inner<'a> {
        code: &'static str,
        message: &'a str,
    }
    let body = Body { error: Inner { code: err.code().as_str(), message: err.message() } };
    let bytes = serde_json::to_vec(&body)
        .unwrap_or_else(|_| br#"{"error":{"code":"server_error","message":"internal server error"}}"#.to_vec());
    let mut res = with_body(err.status(), "application/json", Bytes::from(bytes));
    if let Some(after) = err.retry_after() {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
    }
    res
}

/// 405 with the `Allow` header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut res = error_response(&Error::new(ErrorCode::MethodNotAllowed, "method not allowed on this route"));
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// The callback's answer when there is no trustworthy destination: a small static page that
/// echoes nothing and loads nothing.
pub(crate) fn callback_rejected() -> Response<Bytes> {
    const PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Connection failed</title></head>\n<body><h1>Connection failed</h1><p>This sign-in link is invalid or has expired. Go back to the application and start again.</p></body></html>\n";
    let mut res = with_body(StatusCode::BAD_REQUEST, "text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes()));
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The callback's redirect (302), never 307/308.
pub(crate) fn redirect(location: &url::Url) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::FOUND;
    let h = res.headers_mut();
    common_headers(h);
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    match HeaderValue::from_str(location.as_str()) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
            res
        }
        // A serialised `Url` never holds CR/LF; refuse rather than redirect if it ever did.
        Err(_) => callback_rejected(),
    }
}

/// The most parameters a query may carry: no route takes more than a handful, and a
/// provider's callback sends a few. Counted as `&`-separated parts (empty ones too) before
/// anything is decoded, so a query of thousands of parameters inside the URL limit costs one
/// scan.
pub(crate) const MAX_QUERY_PARAMS: usize = 64;

/// A decoded query string. Every name may appear at most once. Names and values borrow
/// from the raw query unless they had to be decoded. Sorted by name (a parse sorts them to
/// find duplicates), so a lookup is a binary search.
#[derive(Debug, Default)]
pub(crate) struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    /// Parses `raw`; more than [`MAX_QUERY_PARAMS`] parts, a duplicated name, bad
    /// percent-encoding or non-UTF-8 is an error.
    pub(crate) fn parse(raw: Option<&'a str>) -> Result<Self, Error> {
        let raw = raw.unwrap_or("");
        // `MAX_QUERY_PARAMS` parts have one `&` fewer.
        if raw.bytes().filter(|&b| b == b'&').count() >= MAX_QUERY_PARAMS {
            return Err(Error::invalid_request(format!("the query has more than {MAX_QUERY_PARAMS} parameters")));
        }
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        // Sorted, a duplicate is a neighbour: O(n log n) rather than comparing every pair.
        pairs.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        if let Some((k, _)) = pairs.windows(2).find_map(|w| match w {
            [a, b] if a.0 == b.0 => Some(a),
            _ => None,
        }) {
            return Err(Error::invalid_request(format!("query parameter `{}` is given more than once", printable(k))));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let i = self.pairs.binary_search_by(|(k, _)| (**k).cmp(name)).ok()?;
        self.pairs.get(i).map(|(_, v)| &**v)
    }

    /// The value of `name`, required and non-empty.
    pub(crate) fn required(&self, name: &str) -> Result<&str, Error> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::invalid_request(format!("query parameter `{name}` is required")))
    }

    /// Parses `name` with `FromStr`, if present.
    pub(crate) fn parsed<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, Error> {
        self.get(name)
            .map(|v| {
                v.parse::<T>().map_err(|_| Error::invalid_request(format!("query parameter `{name}` is malformed")))
            })
            .transpose()
    }

    /// `?limit=` and `?cursor=`.
    pub(crate) fn page(&self) -> Result<PageRequest, Error> {
        let limit = match self.get("limit") {
            None => 50,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| Error::invalid_request("limit must be an integer from 1 to 100"))?,
        };
        let after = match self.get("cursor") {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| Error::invalid_request("cursor is malformed"))?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// Only printable ASCII of a name, for messages.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(40).collect()
}

/// Form decoding (`application/x-www-form-urlencoded`, as `form_urlencoded::parse` does it):
/// `+` is a space, then percent-decoding (`%2B` is a `+`; a malformed escape is kept as it
/// is). Unlike `form_urlencoded::parse`, which replaces bytes that are not UTF-8, such a
/// value is refused. Borrows when there is nothing to decode.
fn decode(s: &str) -> Result<Cow<'_, str>, Error> {
    let not_utf8 = |_| Error::invalid_request("query is not valid UTF-8");
    if s.contains('+') {
        let spaced = s.replace('+', " ");
        Ok(Cow::Owned(percent_decode_str(&spaced).decode_utf8().map_err(not_utf8)?.into_owned()))
    } else {
        percent_decode_str(s).decode_utf8().map_err(not_utf8)
    }
}

/// Checks the content type and parses a JSON object body.
pub(crate) fn json_object(headers: &HeaderMap, body: &Bytes, max: usize) -> Result<Map<String, Value>, Error> {
    if body.len() > max {
        return Err(payload_too_large(max));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false);
    if !is_json {
        return Err(Error::new(ErrorCode::UnsupportedMediaType, "the body must be application/json"));
    }
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Error::new(ErrorCode::InvalidJson, "the body must be a JSON object")),
        Err(_) => return Err(Error::new(ErrorCode::InvalidJson, "the body is not valid JSON")),
    };
    match duplicate_key(body) {
        None => Ok(map),
        Some(key) => Err(Error::new(
            ErrorCode::InvalidJson,
            format!("the body gives the key `{}` more than once", printable(&key)),
        )),
    }
}

/// The first key some object of `json` (valid JSON) repeats, at any depth, as decoded (`"a"`
/// and `"\u0061"` are the same key). serde_json keeps the last of a duplicated key without a
/// word; a second pass over the body with [`UniqueKeys`] finds them. A pass of its own rather
/// than building the `Value` there: serde_json hands a visitor numbers in a form that depends on
/// its features (`arbitrary_precision`, which a host's build may turn on), which only its own
/// `Value` decodes right.
fn duplicate_key(json: &[u8]) -> Option<String> {
    let found = std::cell::Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    // An error here is the duplicate (the body already parsed as JSON); its key is in `found`.
    let _ = serde::de::DeserializeSeed::deserialize(UniqueKeys { found: &found }, &mut de);
    found.into_inner()
}

/// Walks any JSON value, keeping nothing, and fails on the first key an object repeats,
/// which it leaves in `found`. Each object's keys go into a set, so the check is
/// O(n log n) in the keys. serde_json bounds the nesting (128 levels), so the recursion too.
#[derive(Clone, Copy)]
struct UniqueKeys<'a> {
    found: &'a std::cell::Cell<Option<String>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                self.found.set(Some(key));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            keys.insert(key);
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// The 413 error.
pub(crate) fn payload_too_large(max: usize) -> Error {
    Error::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {max} bytes"))
}

/// Refuses fields outside `allowed` (`validation_failed`: e.g. a tenant trying to set a
/// provider endpoint through an app).
pub(crate) fn only_fields(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::validation(format!("unknown field `{}`", printable(k)))),
        None => Ok(()),
    }
}

/// An optional field of type `T` (`null` counts as absent); a wrong type is `invalid_json`.
pub(crate) fn field<T: DeserializeOwned>(obj: &Map<String, Value>, name: &str, what: &str) -> Result<Option<T>, Error> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|_| Error::new(ErrorCode::InvalidJson, format!("field `{name}` must be {what}"))),
    }
}

/// A required field of type `T`: absent is `validation_failed`, a wrong type `invalid_json`.
pub(crate) fn required<T: DeserializeOwned>(obj: &Map<String, Value>, name: &str, what: &str) -> Result<T, Error> {
    field(obj, name, what)?.ok_or_else(|| Error::validation(format!("field `{name}` is required")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decode_borrows_plain_text_and_decodes_the_rest() {
        assert!(matches!(decode("return_url"), Ok(Cow::Borrowed("return_url"))));
        assert_eq!(decode("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(decode("%+1").unwrap(), "% 1");
        assert_eq!(decode("%2+").unwrap(), "%2 ");
        assert_eq!(decode("%2g%%41").unwrap(), "%2g%A");
        assert_eq!(decode("https%3A%2F%2Fapp.example%2Fdone").unwrap(), "https://app.example/done");
        let err = decode("%ff").unwrap_err();
        assert_eq!((err.code(), err.message()), (ErrorCode::InvalidRequest, "query is not valid UTF-8"));
    }

    #[test]
    fn parse_refuses_duplicates_even_when_spelled_differently() {
        assert!(Query::parse(Some("a=1&%61=2")).is_err());
        let q = Query::parse(Some("a=1&&b=x+y&c")).unwrap();
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some(""));
        assert_eq!(Query::parse(None).unwrap().get("a"), None);
    }

    /// `n` distinct parameters `p0=v&p1=v&…`.
    fn distinct_params(n: usize) -> String {
        (0..n).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join("&")
    }

    #[test]
    fn parse_accepts_a_query_of_as_many_parameters_as_the_cap() {
        let raw = distinct_params(MAX_QUERY_PARAMS);
        let q = Query::parse(Some(&raw)).unwrap();
        for i in 0..MAX_QUERY_PARAMS {
            assert_eq!(q.get(&format!("p{i}")), Some("v"), "p{i}");
        }
        assert_eq!(q.get("p64"), None);
        assert_eq!(q.get(""), None);
    }

    #[test]
    fn parse_refuses_a_query_over_the_cap_before_decoding_it() {
        let over = distinct_params(MAX_QUERY_PARAMS + 1);
        let err = Query::parse(Some(&over)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert!(err.message().contains("more than 64 parameters"), "{}", err.message());
        assert!(Query::parse(Some(&distinct_params(1600))).is_err());
        // Empty parts count: the cap is on separators, checked before anything is decoded
        // (the bad escape would be the error otherwise).
        let empties = format!("a=%ff{}", "&".repeat(MAX_QUERY_PARAMS));
        assert!(Query::parse(Some(&empties)).unwrap_err().message().contains("more than 64"));
        let at_cap = format!("a=1{}", "&".repeat(MAX_QUERY_PARAMS - 1));
        assert_eq!(Query::parse(Some(&at_cap)).unwrap().get("a"), Some("1"));
    }

    #[test]
    fn parse_refuses_a_duplicate_among_many_distinct_parameters() {
        let raw = format!("{}&p3=other", distinct_params(MAX_QUERY_PARAMS - 1));
        let err = Query::parse(Some(&raw)).unwrap_err();
        assert_eq!(err.message(), "query parameter `p3` is given more than once");
        assert!(Query::parse(Some("z=1&b=2&%7A=3")).is_err());
        assert!(Query::parse(Some("b=1&a=2&b")).is_err());
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h
    }

    fn parse_body(body: &str) -> Result<Map<String, Value>, Error> {
        json_object(&json_headers(), &Bytes::copy_from_slice(body.as_bytes()), 1 << 20)
    }

    fn refused_for_duplicate(body: &str, key: &str) {
        let err = parse_body(body).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidJson, "{body}");
        assert_eq!(err.message(), format!("the body gives the key `{key}` more than once"), "{body}");
    }

    #[test]
    fn json_object_refuses_a_key_given_twice_at_the_top_level() {
        refused_for_duplicate(r#"{"client_secret":"a","client_id":"c","client_secret":"b"}"#, "client_secret");
        refused_for_duplicate(r#"{"a":null,"a":null}"#, "a");
    }

    #[test]
    fn json_object_refuses_a_key_given_twice_in_a_nested_object() {
        refused_for_duplicate(r#"{"profile":{"name":"x","name":"y"}}"#, "name");
        refused_for_duplicate(r#"{"list":[1,{"k":[{"deep":1,"deep":2}]}]}"#, "deep");
    }

    #[test]
    fn json_object_refuses_the_same_key_spelled_with_an_escape() {
        refused_for_duplicate(r#"{"a":1,"\u0061":2}"#, "a");
        refused_for_duplicate(r#"{"client_secret":"s","client\u005fsecret":"t"}"#, "client_secret");
    }

    #[test]
    fn json_object_accepts_the_same_key_in_different_objects() {
        let map = parse_body(r#"{"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}],"x":5}"#).unwrap();
        assert_eq!(map.len(), 4);
        assert!(parse_body("{}").unwrap().is_empty());
        // Not JSON is still that, whatever it repeats.
        assert_eq!(parse_body(r#"{"a":1,"a":2"#).unwrap_err().message(), "the body is not valid JSON");
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_without_duplicate_keys_is_what_serde_json_reads(v in any_json()) {
            let text = serde_json::to_string(&serde_json::json!({ "v": v })).unwrap();
            let map = parse_body(&text).unwrap();
            prop_assert_eq!(Value::Object(map), serde_json::from_str::<Value>(&text).unwrap());
        }
    }
}
