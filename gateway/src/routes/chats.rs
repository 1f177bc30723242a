//! `/chats`: answered as a Meilisearch 1.50 node without the `chat completions` experimental
//! feature (the cluster has it off, see [`crate::features`]): what the node reads before its
//! feature check (the list's query string, the settings body, the completion request) is read
//! the same way, then the feature is missing.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

use crate::body::{json_body, read_limited};
use crate::error::GatewayError;
use crate::features::CHAT_COMPLETIONS;
use crate::params::QueryParams;
use crate::routes::experimental::check_body_then_refuse;
use crate::settings::check::{coded, nullable, optional_string, At};
use crate::state::AppState;

const SETTINGS_ROUTE: &str = "using the /chats/settings route";

/// `GET /chats`: `offset` and `limit` are read first.
pub async fn list(Query(query): Query<Vec<(String, String)>>) -> GatewayError {
    let query = QueryParams(query);
    let read = query
        .check(&["offset", "limit"])
        .and_then(|()| query.integer("offset", Code::InvalidIndexOffset))
        .and_then(|_| query.integer("limit", Code::InvalidIndexLimit));
    match read {
        Ok(_) => CHAT_COMPLETIONS.refuse("listing the chats").into(),
        Err(error) => error.into(),
    }
}

/// `GET /chats/{workspace}`.
pub async fn get() -> GatewayError {
    CHAT_COMPLETIONS.refuse("displaying a chat").into()
}

/// `DELETE /chats/{workspace}`.
pub async fn delete() -> GatewayError {
    CHAT_COMPLETIONS.refuse("deleting a chat").into()
}

/// `GET` and `DELETE /chats/{workspace}/settings`.
pub async fn settings() -> GatewayError {
    CHAT_COMPLETIONS.refuse(SETTINGS_ROUTE).into()
}

/// `PATCH /chats/{workspace}/settings`' body, as Meilisearch reads it.
pub fn check_settings_body(body: &Value) -> Result<(), ResponseError> {
    At::root(Code::BadRequest).object(
        body,
        &[
            ("source", |at, v| nullable(at, v, |at, v| at.variant(v, &["openAi", "mistral", "azureOpenAi", "vLlm"]))),
            ("orgId", coded!(Code::InvalidChatCompletionOrgId, optional_string)),
            ("projectId", coded!(Code::InvalidChatCompletionProjectId, optional_string)),
            ("apiVersion", coded!(Code::InvalidChatCompletionApiVersion, optional_string)),
            ("deploymentId", coded!(Code::InvalidChatCompletionDeploymentId, optional_string)),
            ("baseUrl", coded!(Code::InvalidChatCompletionBaseApi, optional_string)),
            ("apiKey", coded!(Code::InvalidChatCompletionApiKey, optional_string)),
            ("prompts", |at, v| {
                nullable(at, v, |at, v| {
                    let prompts = at.object(
                        v,
                        &[
                            ("system", coded!(Code::InvalidChatCompletionSystemPrompt, optional_string)),
                            ("searchDescription", coded!(Code::InvalidChatCompletionSearchDescriptionPrompt, optional_string)),
                            ("searchQParam", coded!(Code::InvalidChatCompletionSearchQueryParamPrompt, optional_string)),
                            ("searchFilterParam", coded!(Code::InvalidChatCompletionSearchFilterParamPrompt, optional_string)),
                            ("searchIndexUidParam", coded!(Code::InvalidChatCompletionSearchIndexUidParamPrompt, optional_string)),
                        ],
                        &[],
                    )?;
                    Ok(Value::Object(prompts))
                })
            }),
        ],
        &[],
    )?;
    Ok(())
}

/// `PATCH /chats/{workspace}/settings`.
pub async fn update_settings(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    check_body_then_refuse(&state, &headers, body, check_settings_body, CHAT_COMPLETIONS.refuse(SETTINGS_ROUTE)).await
}

/// The completion request as Meilisearch reads it (async-openai's `CreateChatCompletionRequest`,
/// with serde): the two required fields first, then 28 optional ones, so a malformed body gets
/// serde's "Json deserialize error" as on a node. The optional fields' own types are not
/// checked here.
mod completion {
    use serde::de::IgnoredAny;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)] // read for its errors only
    pub struct CreateChatCompletionRequest {
        messages: Vec<IgnoredAny>,
        model: String,
        #[serde(default)]
        o3: Option<IgnoredAny>,
        #[serde(default)]
        o4: Option<IgnoredAny>,
        #[serde(default)]
        o5: Option<IgnoredAny>,
        #[serde(default)]
        o6: Option<IgnoredAny>,
        #[serde(default)]
        o7: Option<IgnoredAny>,
        #[serde(default)]
        o8: Option<IgnoredAny>,
        #[serde(default)]
        o9: Option<IgnoredAny>,
        #[serde(default)]
        o10: Option<IgnoredAny>,
        #[serde(default)]
        o11: Option<IgnoredAny>,
        #[serde(default)]
        o12: Option<IgnoredAny>,
        #[serde(default)]
        o13: Option<IgnoredAny>,
        #[serde(default)]
        o14: Option<IgnoredAny>,
        #[serde(default)]
        o15: Option<IgnoredAny>,
        #[serde(default)]
        o16: Option<IgnoredAny>,
        #[serde(default)]
        o17: Option<IgnoredAny>,
        #[serde(default)]
        o18: Option<IgnoredAny>,
        #[serde(default)]
        o19: Option<IgnoredAny>,
        #[serde(default)]
        o20: Option<IgnoredAny>,
        #[serde(default)]
        o21: Option<IgnoredAny>,
        #[serde(default)]
        o22: Option<IgnoredAny>,
        #[serde(default)]
        o23: Option<IgnoredAny>,
        #[serde(default)]
        o24: Option<IgnoredAny>,
        #[serde(default)]
        o25: Option<IgnoredAny>,
        #[serde(default)]
        o26: Option<IgnoredAny>,
        #[serde(default)]
        o27: Option<IgnoredAny>,
        #[serde(default)]
        o28: Option<IgnoredAny>,
        #[serde(default)]
        o29: Option<IgnoredAny>,
        #[serde(default)]
        o30: Option<IgnoredAny>,
    }
}

/// Reads a completion request body as Meilisearch does (after the content type and JSON syntax).
pub fn check_completion_body(bytes: &[u8]) -> Result<(), ResponseError> {
    serde_json::from_slice::<completion::CreateChatCompletionRequest>(bytes)
        .map(|_| ())
        .map_err(|error| ResponseError::new(Code::BadRequest, format!("Json deserialize error: {error}")))
}

/// `POST /chats/{workspace}/chat/completions`.
pub async fn completions(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    let checked = async {
        let bytes = read_limited(body, state.payload_limit()).await?;
        json_body(&headers, &bytes)?;
        Ok::<_, GatewayError>(check_completion_body(&bytes)?)
    };
    checked.await.err().unwrap_or_else(|| CHAT_COMPLETIONS.refuse("using the /chats chat completions route").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair(code: &str, message: &str) -> (String, String) {
        (code.to_owned(), message.to_owned())
    }

    #[test]
    fn settings_bodies_are_read_as_meilisearch_reads_them() {
        // Each watched on Meilisearch 1.50.
        let cases = [
            (json!([]), pair("bad_request", "Invalid value type: expected an object, but found an array: `[]`")),
            (json!({"source": "x"}), pair("bad_request", "Unknown value `x` at `.source`: expected one of `openAi`, `mistral`, `azureOpenAi`, `vLlm`")),
            (json!({"source": 5}), pair("bad_request", "Invalid value type at `.source`: expected a string, but found a positive integer: `5`")),
            (json!({"orgId": 5}), pair("invalid_chat_completion_org_id", "Invalid value type at `.orgId`: expected a string, but found a positive integer: `5`")),
            (json!({"prompts": 5}), pair("bad_request", "Invalid value type at `.prompts`: expected an object, but found a positive integer: `5`")),
            (
                json!({"prompts": {"foo": 1}}),
                pair("bad_request", "Unknown field `foo` inside `.prompts`: expected one of `system`, `searchDescription`, `searchQParam`, `searchFilterParam`, `searchIndexUidParam`"),
            ),
            (json!({"prompts": {"system": 5}}), pair("invalid_chat_completion_system_prompt", "Invalid value type at `.prompts.system`: expected a string, but found a positive integer: `5`")),
            (
                json!({"foo": 1}),
                pair("bad_request", "Unknown field `foo`: expected one of `source`, `orgId`, `projectId`, `apiVersion`, `deploymentId`, `baseUrl`, `apiKey`, `prompts`"),
            ),
        ];
        for (body, expected) in cases {
            let error = check_settings_body(&body).unwrap_err();
            assert_eq!((error.code, error.message), expected, "{body}");
        }
        assert!(check_settings_body(&json!({"apiKey": null, "source": null, "prompts": null})).is_ok());
    }

    #[test]
    fn completion_bodies_are_read_with_serde() {
        let message = |body: &str| check_completion_body(body.as_bytes()).unwrap_err().message;
        assert_eq!(message("{}"), "Json deserialize error: missing field `messages` at line 1 column 2");
        assert_eq!(message(r#"{"messages":[]}"#), "Json deserialize error: missing field `model` at line 1 column 15");
        assert_eq!(message(r#"{"model":"x"}"#), "Json deserialize error: missing field `messages` at line 1 column 13");
        assert_eq!(
            message(r#"{"messages":5}"#),
            "Json deserialize error: invalid type: integer `5`, expected a sequence at line 1 column 13"
        );
        assert_eq!(
            message("[]"),
            "Json deserialize error: invalid length 0, expected struct CreateChatCompletionRequest with 30 elements at line 1 column 2"
        );
        assert!(check_completion_body(br#"{"messages":[],"model":"x"}"#).is_ok());
    }
}
