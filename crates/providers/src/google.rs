//! Google's OAuth 2.0 web-server flow, shared by the Google products (`youtube`,
//! `google_business`): the endpoints, PKCE, body client authentication, the offline access
//! that makes Google issue a refresh token, the non-rotating refresh and the revocation.

use super::generic::{GenericProvider, RenewalKnob, RevokeStyle};
use super::{ProfilePointers, TokenAuth};
use crate::{RefreshTokenRequirement, Rotation};

pub(super) const AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub(super) const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub(super) const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
/// What makes Google issue a refresh token on every grant.
const OFFLINE: [(&str, &str); 2] = [("access_type", "offline"), ("prompt", "consent")];

/// A Google product `id` whose account is read from `userinfo_url` with `profile`.
pub(super) fn oauth(id: &'static str, userinfo_url: &str, profile: ProfilePointers) -> GenericProvider {
    let mut p = GenericProvider::builtin(id, AUTHORIZE_URL, TOKEN_URL, userinfo_url, profile);
    p.revoke_url = Some(REVOKE_URL.to_owned());
    p.knobs.revoke_style = RevokeStyle::OneTokenEndsTheGrant;
    p.pkce = true;
    p.token_auth = TokenAuth::Body;
    let offline = || OFFLINE.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    p.authorize_params = offline().collect();
    p.knobs.renewal = RenewalKnob::Grant(Rotation::Never);
    p.knobs.refresh_token = RefreshTokenRequirement::AuthorizeParams { params: offline().collect() };
    p.knobs.access_token_lifetime_secs = Some(3600);
    p
}
