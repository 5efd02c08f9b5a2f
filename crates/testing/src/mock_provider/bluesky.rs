//! The mock's AT Protocol XRPC endpoints (Bluesky app-password sessions), answering in the
//! shapes of a real PDS: `createSession`, `refreshSession` (rotating), `deleteSession` and
//! `app.bsky.actor.getProfile`, with XRPC error bodies `{"error":<name>,"message":…}`.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::{Body, MockUser, Shared, bearer_token, json_response, no_store, random_token, response, secret_eq};

pub(super) const CREATE_SESSION_PATH: &str = "/xrpc/com.atproto.server.createSession";
pub(super) const REFRESH_SESSION_PATH: &str = "/xrpc/com.atproto.server.refreshSession";
pub(super) const DELETE_SESSION_PATH: &str = "/xrpc/com.atproto.server.deleteSession";
pub(super) const GET_PROFILE_PATH: &str = "/xrpc/app.bsky.actor.getProfile";

/// Access-token lifetime when [`MockConfig::access_token_ttl`](super::MockConfig) is `None`.
const DEFAULT_ACCESS_TTL_SECS: i64 = 7200;
/// Refresh-token lifetime written into the `exp` of refresh JWTs.
const REFRESH_TTL_SECS: i64 = 90 * 86_400;

/// The live sessions.
#[derive(Default)]
pub(super) struct Sessions {
    next_session: u64,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
}

struct Access {
    user: MockUser,
    exp: i64,
    session: u64,
}

struct Refresh {
    user: MockUser,
    session: u64,
    used: bool,
}

/// An XRPC error body.
fn xrpc_error(status: StatusCode, error: &str, message: &str) -> super::Response<Body> {
    no_store(json_response(status, &json!({"error": error, "message": message})))
}

fn forced(status: u16) -> super::Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (error, message) = match status.as_u16() {
        429 => ("RateLimitExceeded", "Rate Limit Exceeded"),
        500..=599 => ("InternalServerError", "Internal Server Error"),
        _ => ("InvalidRequest", "Forced by MockBehavior"),
    };
    xrpc_error(status, error, message)
}

/// A JWT of the reference PDS's shape: `{typ, alg: HS256}`, the claims, and a random
/// signature (nobody verifies it but the mock, which looks tokens up instead).
fn jwt(typ: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"typ":"{typ}","alg":"HS256"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = random_token("");
    format!("{header}.{payload}.{signature}")
}

impl Shared {
    fn now_unix(&self) -> i64 {
        self.lock().clock.now().unix_timestamp()
    }

    /// Issues a new token pair for `user` in `session`; the JSON a session call answers.
    fn issue_session(&self, user: &MockUser, session: u64) -> Value {
        let now = self.now_unix();
        let ttl = self.config.access_token_ttl.and_then(|s| i64::try_from(s).ok()).unwrap_or(DEFAULT_ACCESS_TTL_SECS);
        let exp = now.saturating_add(ttl);
        let access = jwt(
            "at+jwt",
            &json!({"scope": "com.atproto.appPass", "sub": user.id, "iat": now, "exp": exp, "aud": "did:web:mock.pds"}),
        );
        let refresh = jwt(
            "refresh+jwt",
            &json!({"scope": "com.atproto.refresh", "sub": user.id, "aud": "did:web:mock.pds",
                    "jti": random_token(""), "iat": now, "exp": now.saturating_add(REFRESH_TTL_SECS)}),
        );
        let mut st = self.lock();
        st.bluesky.access.insert(access.clone(), Access { user: user.clone(), exp, session });
        st.bluesky.refresh.insert(refresh.clone(), Refresh { user: user.clone(), session, used: false });
        json!({
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": user.username,
            "did": user.id,
            "email": format!("{}@example.invalid", user.username),
            "emailConfirmed": true,
            "emailAuthFactor": false,
            "active": true,
        })
    }

    pub(super) fn xrpc_procedure(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> super::Response<Body> {
        let (status, auth_factor, refresh_error) = {
            let st = self.lock();
            let b = &st.behavior;
            (b.xrpc_status, b.session_auth_factor_required, b.refresh_session_error.clone())
        };
        if let Some(status) = status {
            return forced(status);
        }
        match path {
            CREATE_SESSION_PATH => self.create_session(headers, body, auth_factor),
            REFRESH_SESSION_PATH => match refresh_error {
                Some(error) => xrpc_error(StatusCode::BAD_REQUEST, &error, "Forced by MockBehavior"),
                None => self.refresh_session(headers),
            },
            _ => self.delete_session(headers),
        }
    }

    fn create_session(&self, headers: &HeaderMap, body: &[u8], auth_factor: bool) -> super::Response<Body> {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", "Wrong request encoding (Content-Type)");
        }
        let input = serde_json::from_slice::<Value>(body).ok();
        let field = |name: &str| input.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_owned);
        let (Some(identifier), Some(password)) = (field("identifier"), field("password")) else {
            return xrpc_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Input must have the properties \"identifier\" and \"password\"",
            );
        };
        if auth_factor {
            return xrpc_error(
                StatusCode::UNAUTHORIZED,
                "AuthFactorTokenRequired",
                "A sign in code has been sent to your email address",
            );
        }
        let user = self.lock().user.clone();
        let known = identifier.eq_ignore_ascii_case(&user.username) || identifier == user.id;
        if !known || !secret_eq(&password, &self.config.app_password) {
            return xrpc_error(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Invalid identifier or password");
        }
        let session = {
            let mut st = self.lock();
            st.bluesky.next_session += 1;
            st.bluesky.next_session
        };
        let answer = self.issue_session(&user, session);
        no_store(json_response(StatusCode::OK, &answer))
    }

    fn refresh_session(&self, headers: &HeaderMap) -> super::Response<Body> {
        let Some(token) = bearer_token(headers).map(str::to_owned) else {
            return xrpc_error(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Authentication Required");
        };
        let found = {
            let mut st = self.lock();
            match st.bluesky.refresh.get_mut(&token) {
                None => None,
                Some(r) if r.used => Some(Err(())),
                Some(r) => {
                    r.used = true;
                    Some(Ok((r.user.clone(), r.session)))
                }
            }
        };
        match found {
            None => xrpc_error(StatusCode::BAD_REQUEST, "InvalidToken", "Token could not be verified"),
            Some(Err(())) => xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has been revoked"),
            Some(Ok((user, session))) => {
                let mut answer = self.issue_session(&user, session);
                if let Value::Object(map) = &mut answer {
                    // refreshSession answers no email fields.
                    map.retain(|k, _| !k.starts_with("email"));
                }
                no_store(json_response(StatusCode::OK, &answer))
            }
        }
    }

    fn delete_session(&self, headers: &HeaderMap) -> super::Response<Body> {
        let Some(token) = bearer_token(headers) else {
            return xrpc_error(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Authentication Required");
        };
        let mut st = self.lock();
        let Some(session) = st.bluesky.refresh.get(token).map(|r| r.session) else {
            return xrpc_error(StatusCode::BAD_REQUEST, "InvalidToken", "Token could not be verified");
        };
        st.bluesky.access.retain(|_, a| a.session != session);
        st.bluesky.refresh.retain(|_, r| r.session != session);
        drop(st);
        no_store(response(StatusCode::OK, "application/json", ""))
    }

    pub(super) fn get_profile(&self, headers: &HeaderMap, query: Option<&str>) -> super::Response<Body> {
        if let Some(status) = self.lock().behavior.xrpc_status {
            return forced(status);
        }
        let now = self.now_unix();
        let user = {
            let st = self.lock();
            match bearer_token(headers).and_then(|t| st.bluesky.access.get(t)) {
                None => None,
                Some(a) if a.exp <= now => Some(Err(())),
                Some(a) => Some(Ok(a.user.clone())),
            }
        };
        let user = match user {
            None => return xrpc_error(StatusCode::UNAUTHORIZED, "InvalidToken", "Token could not be verified"),
            Some(Err(())) => return xrpc_error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired"),
            Some(Ok(user)) => user,
        };
        let actor = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "actor")
            .map(|(_, v)| v.into_owned());
        let Some(actor) = actor else {
            return xrpc_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Error: Params must have the property \"actor\"",
            );
        };
        if actor != user.id && !actor.eq_ignore_ascii_case(&user.username) {
            return xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", "Profile not found");
        }
        let mut profile = json!({
            "did": user.id,
            "handle": user.username,
            "displayName": user.display_name,
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": false},
            "labels": [],
            "createdAt": "2024-01-01T00:00:00.000Z",
            "indexedAt": "2024-01-01T00:00:00.000Z",
            "followersCount": 0,
            "followsCount": 0,
            "postsCount": 0,
            "viewer": {"muted": false, "blockedBy": false},
        });
        if let (Some(avatar), Value::Object(map)) = (user.avatar_url, &mut profile) {
            map.insert("avatar".to_owned(), Value::from(avatar));
        }
        json_response(StatusCode::OK, &profile)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use time::macros::datetime;

    use super::super::{MockBehavior, MockConfig, MockProvider, MockUser};
    use dravo_connect_core::ManualClock;

    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap()
    }

    async fn call(mock: &MockProvider, method: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/xrpc/{method}", mock.base_url());
        let mut req = if method.starts_with("app.") { client().get(url) } else { client().post(url) };
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    fn claims(jwt: &str) -> Value {
        use base64::Engine as _;
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn sessions_rotate_expire_by_the_clock_and_answer_xrpc_error_shapes() {
        let mock =
            MockProvider::start_with(MockConfig::default().with_app_password("abcd-efgh-ijkl-mnop")).await.unwrap();
        let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 0:00 UTC)));
        mock.set_clock(clock.clone());
        mock.set_user(MockUser::new("did:plc:alice", "alice.test", "Alice"));
        let create = "com.atproto.server.createSession";
        let login = |password: &str| Some(json!({"identifier": "alice.test", "password": password}));

        let (status, body) = call(&mock, create, None, login("wrong-pass-word-0000")).await;
        assert_eq!(
            (status, body),
            (401, json!({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}))
        );
        let (status, body) = call(&mock, create, None, Some(json!({"identifier": "alice.test"}))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("InvalidRequest")));
        mock.set_behavior(MockBehavior::default().with_session_auth_factor_required(true));
        assert_eq!(call(&mock, create, None, login("abcd-efgh-ijkl-mnop")).await.1["error"], "AuthFactorTokenRequired");
        mock.set_behavior(MockBehavior::default().with_xrpc_status(429));
        assert_eq!(
            call(&mock, create, None, login("abcd-efgh-ijkl-mnop")).await,
            (429, json!({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}))
        );
        mock.set_behavior(MockBehavior::default());

        let (status, session) = call(&mock, create, None, login("abcd-efgh-ijkl-mnop")).await;
        assert_eq!(status, 200);
        assert_eq!((session["did"].as_str(), session["handle"].as_str()), (Some("did:plc:alice"), Some("alice.test")));
        let access = session["accessJwt"].as_str().unwrap().to_owned();
        let refresh = session["refreshJwt"].as_str().unwrap().to_owned();
        let start = datetime!(2026-01-01 0:00 UTC).unix_timestamp();
        assert_eq!(claims(&access)["exp"], start + 3600);
        assert_eq!(claims(&access)["sub"], "did:plc:alice");
        assert_eq!(claims(&refresh)["scope"], "com.atproto.refresh");

        let profile = "app.bsky.actor.getProfile?actor=did:plc:alice";
        let (status, p) = call(&mock, profile, Some(&access), None).await;
        assert_eq!((status, p["handle"].as_str(), p["displayName"].as_str()), (200, Some("alice.test"), Some("Alice")));
        clock.advance(time::Duration::hours(1));
        assert_eq!(
            call(&mock, profile, Some(&access), None).await,
            (400, json!({"error": "ExpiredToken", "message": "Token has expired"}))
        );

        let refresh_call = "com.atproto.server.refreshSession";
        let (status, rotated) = call(&mock, refresh_call, Some(&refresh), None).await;
        assert_eq!(status, 200);
        assert_ne!(rotated["refreshJwt"], session["refreshJwt"]);
        assert_eq!(call(&mock, refresh_call, Some(&refresh), None).await.1["error"], "ExpiredToken", "a used token");
        assert_eq!(call(&mock, refresh_call, Some("junk"), None).await.1["error"], "InvalidToken");
        let new_access = rotated["accessJwt"].as_str().unwrap();
        assert_eq!(call(&mock, profile, Some(new_access), None).await.0, 200);

        let delete = "com.atproto.server.deleteSession";
        let rotated_refresh = rotated["refreshJwt"].as_str().unwrap();
        assert_eq!(call(&mock, delete, Some(rotated_refresh), None).await, (200, Value::Null));
        assert_eq!(call(&mock, profile, Some(new_access), None).await.1["error"], "InvalidToken");
        assert_eq!(call(&mock, refresh_call, Some(rotated_refresh), None).await.1["error"], "InvalidToken");
        let c = mock.counts();
        assert_eq!((c.create_session, c.get_profile, c.refresh_session, c.delete_session), (5, 4, 4, 1));
        assert!(!format!("{:?}", mock.config()).contains("abcd-efgh"), "the app password is redacted");
    }
}
