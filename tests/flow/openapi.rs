//! Validates every JSON response the flow tests see against `src/api/openapi.json`.
//!
//! A small validator of the JSON Schema subset the document uses (`$ref`, `type` with
//! `null`, `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
//! `minimum`/`maximum`, `minItems`/`maxItems`, `maxLength`, `format: date-time`), hand-written
//! rather than a crate: the full validators (`jsonschema`, `boon`) pull in regex engines,
//! HTTP clients for remote `$ref`s and far more build time than these 80 lines.

use std::sync::LazyLock;

use http::{Method, StatusCode};
use serde_json::Value;

static DOC: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../src/api/openapi.json")).expect("the document is JSON"));

/// The schema of the JSON answer to `method path` with `status`, per the document. Paths
/// that are no route, and methods a route does not take, answer the `Error` schema.
fn response_schema(method: &Method, path: &str, status: StatusCode) -> Value {
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let Some(rest) = path.strip_prefix("/v1") else { return error };
    let segs: Vec<&str> = rest.split('/').collect();
    let item = DOC["paths"].as_object().unwrap().iter().find(|(template, _)| {
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segs.len() && t.iter().zip(&segs).all(|(a, b)| a.starts_with('{') && !b.is_empty() || a == b)
    });
    let Some(op) = item.and_then(|(_, i)| i.get(method.as_str().to_ascii_lowercase())) else { return error };
    let responses = &op["responses"];
    let r = responses.get(status.as_str()).unwrap_or(&responses["default"]);
    let r = resolve(r);
    r.pointer("/content/application~1json/schema")
        .cloned()
        .unwrap_or_else(|| panic!("{method} {path} {status}: no JSON response is documented"))
}

fn resolve(v: &Value) -> &Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(DOC.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"))),
        None => v,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unsupported type {other}"),
    }
}

/// Errors of `v` against `schema`, with JSON-pointer-like locations.
pub fn errors(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let s = resolve(schema);
    match &s["type"] {
        Value::String(t) if !type_ok(t, v) => return out.push(format!("{at}: not {t}: {v}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            return out.push(format!("{at}: not any of {ts:?}: {v}"));
        }
        _ => {}
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        out.push(format!("{at}: {v} not in {e:?}"));
    }
    if let (Some(str), Some("date-time")) = (v.as_str(), s["format"].as_str())
        && time::OffsetDateTime::parse(str, &time::format_description::well_known::Rfc3339).is_err()
    {
        out.push(format!("{at}: {str} is not a date-time"));
    }
    if let (Some(str), Some(max)) = (v.as_str(), s["maxLength"].as_u64())
        && str.chars().count() as u64 > max
    {
        out.push(format!("{at}: longer than {max}"));
    }
    if let Some(n) = v.as_f64()
        && (s["minimum"].as_f64().is_some_and(|m| n < m) || s["maximum"].as_f64().is_some_and(|m| n > m))
    {
        out.push(format!("{at}: {n} out of range"));
    }
    if let Some(a) = v.as_array() {
        if s["minItems"].as_u64().is_some_and(|m| (a.len() as u64) < m)
            || s["maxItems"].as_u64().is_some_and(|m| a.len() as u64 > m)
        {
            out.push(format!("{at}: {} items out of range", a.len()));
        }
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                errors(items, x, &format!("{at}/{i}"), out);
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = s["properties"].as_object();
        for r in s["required"].as_array().into_iter().flatten() {
            if !o.contains_key(r.as_str().unwrap()) {
                out.push(format!("{at}: missing {r}"));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => errors(ps, x, &format!("{at}/{k}"), out),
                None if s["additionalProperties"] == Value::Bool(false) => out.push(format!("{at}: unexpected {k}")),
                None => {}
            }
        }
    }
}

/// Panics when a JSON response breaks the document.
#[track_caller]
pub fn check(method: &Method, path: &str, status: StatusCode, content_type: Option<&str>, body: &[u8]) {
    if content_type != Some("application/json") {
        return;
    }
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
    let schema = response_schema(method, path, status);
    let mut out = Vec::new();
    errors(&schema, &v, "", &mut out);
    assert!(out.is_empty(), "{method} {path} {status} breaks the OpenAPI document: {out:?}\n{v}");
}

#[test]
fn the_validator_refuses_what_breaks_the_schema() {
    let app = serde_json::json!({"$ref": "#/components/schemas/App"});
    let mut out = Vec::new();
    errors(&app, &serde_json::json!({"id": 1, "extra": true, "created_at": "yesterday"}), "", &mut out);
    assert!(out.iter().any(|e| e.contains("/id: not string")), "{out:?}");
    assert!(out.iter().any(|e| e.contains("unexpected extra")), "{out:?}");
    assert!(out.iter().any(|e| e.contains("missing \"provider\"")), "{out:?}");
    assert!(out.iter().any(|e| e.contains("not a date-time")), "{out:?}");
    let err = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let mut out = Vec::new();
    errors(&err, &serde_json::json!({"error": {"code": "teapot", "message": "x"}}), "", &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
}
