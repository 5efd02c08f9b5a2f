//! Every built-in provider with an OAuth code flow passes the public provider conformance
//! suite, the same one a third-party provider runs (`dravo_connect::test_util`), each with
//! its network's profile answer in that network's own shape.

use std::sync::Arc;

use dravo_connect::provider::{Instance, Provider, build_registry};
use dravo_connect::test_util::{ProviderAnswers, provider_conformance};

/// A profile answer of each network, in its shape, and the account id read from it.
fn answers(id: &str) -> Option<ProviderAnswers> {
    let (profile, account) = match id {
        "x" => (r#"{"data":{"id":"2244994945","username":"ada","name":"Ada"}}"#, "2244994945"),
        "linkedin" => (r#"{"sub":"782bbtaQ","name":"Ada"}"#, "782bbtaQ"),
        "facebook" | "instagram_facebook" => (r#"{"id":"10158","name":"Ada"}"#, "10158"),
        "instagram" => (r#"{"user_id":"17841","username":"ada"}"#, "17841"),
        "threads" => (r#"{"id":"1234","username":"ada"}"#, "1234"),
        "youtube" => (r#"{"items":[{"id":"UC_x5X","snippet":{"title":"Ada"}}]}"#, "UC_x5X"),
        "tiktok" => {
            (r#"{"data":{"user":{"open_id":"723f24d7","display_name":"Ada"}},"error":{"code":"ok"}}"#, "723f24d7")
        }
        "pinterest" => (r#"{"id":"549755885175","username":"ada"}"#, "549755885175"),
        "reddit" => (r#"{"id":"abc123","name":"ada"}"#, "abc123"),
        "snapchat" => (r#"{"data":{"me":{"externalId":"CAESIPvj","displayName":"Ada"}}}"#, "CAESIPvj"),
        "tumblr" => (
            r#"{"response":{"user":{"name":"ada","blogs":[{"name":"ada","primary":true,"uuid":"t:0aY0"}]}}}"#,
            "t:0aY0",
        ),
        "mastodon" => {
            (r#"{"id":"14715","username":"ada","acct":"ada","display_name":"Ada"}"#, "14715@mastodon.example")
        }
        "google_business" => (r#"{"accounts":[{"name":"accounts/1065","accountName":"Ada"}]}"#, "accounts/1065"),
        "discord" => (r#"{"id":"80351110224678912","username":"ada","avatar":null}"#, "80351110224678912"),
        "twitch" => {
            let users = r#"{"data":[{"id":"141981764","login":"ada","display_name":"Ada"}]}"#;
            let validate = r#"{"client_id":"conformanceclient","login":"ada","user_id":"141981764"}"#;
            return Some(ProviderAnswers::new(users, "141981764").with_before_profile(validate));
        }
        _ => return None,
    };
    Some(ProviderAnswers::new(profile, account))
}

#[tokio::test]
async fn every_built_in_code_flow_provider_passes_the_public_provider_conformance_suite() {
    let mut checked = Vec::new();
    for p in build_registry(&[]).unwrap() {
        // A provider that registers per server runs its flow bound to one.
        let p: Arc<dyn Provider> = match p.registration() {
            Some(r) => r.at(&Instance::parse("mastodon.example", false).unwrap()),
            None => p,
        };
        if p.code_flow().is_none() {
            continue;
        }
        let id = p.id().to_string();
        let answers = answers(&id).unwrap_or_else(|| panic!("no profile answer for the built-in provider {id}"));
        provider_conformance(p.as_ref(), &answers).await;
        checked.push(id);
    }
    assert_eq!(checked.len(), 16, "{checked:?}");
}
