//! `POST /render-template`: answered as a Meilisearch 1.50 node without the `render_route`
//! experimental feature (the cluster has it off, see [`crate::features`]): the body is read as
//! the node reads it, then the feature is missing.

use axum::extract::State;
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

use crate::error::GatewayError;
use crate::features::RENDER_ROUTE;
use crate::params::is_meilisearch_index_uid;
use crate::routes::experimental::check_body_then_refuse;
use crate::settings::check::{nullable, optional_string, At, Checked};
use crate::state::AppState;

const TEMPLATE_KINDS: [&str; 6] =
    ["documentTemplate", "chatDocumentTemplate", "indexingFragment", "searchFragment", "inlineDocumentTemplate", "inlineFragment"];
const INPUT_KINDS: [&str; 3] = ["indexDocument", "inlineDocument", "inlineSearch"];

/// An optional index uid, refused with Meilisearch's rule.
fn index_uid(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| {
        let uid = at.string(v)?;
        if !is_meilisearch_index_uid(&uid) {
            return Err(at.invalid(&crate::params::index_uid_rule(&uid)));
        }
        Ok(Value::String(uid))
    })
}

fn template(at: &At, value: &Value) -> Checked {
    let fields = at.object(
        value,
        &[
            ("kind", |at, v| at.variant(v, &TEMPLATE_KINDS)),
            ("indexUid", index_uid),
            ("embedder", optional_string),
            ("fragment", optional_string),
            ("inline", |_, v| Ok(v.clone())),
            ("documentTemplateMaxBytes", |at, v| nullable(at, v, |at, v| Ok(at.non_zero(v)?.into()))),
        ],
        &["kind"],
    )?;
    Ok(Value::Object(fields))
}

fn input(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| {
        let fields = at.object(
            v,
            &[
                ("kind", |at, v| at.variant(v, &INPUT_KINDS)),
                ("indexUid", index_uid),
                ("id", optional_string),
                ("inline", |_, v| Ok(v.clone())),
            ],
            &["kind"],
        )?;
        Ok(Value::Object(fields))
    })
}

/// Reads the body as Meilisearch 1.50 does: `template` (required; every error of it
/// `invalid_render_template`) and `input` (`invalid_render_input`).
pub fn check_body(body: &Value) -> Result<(), ResponseError> {
    At::root(Code::BadRequest).object(
        body,
        &[
            ("template", |at, v| template(&at.with_code(Code::InvalidRenderTemplate), v)),
            ("input", |at, v| input(&at.with_code(Code::InvalidRenderInput), v)),
        ],
        &["template"],
    )?;
    Ok(())
}

/// `POST /render-template`.
pub async fn render(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    check_body_then_refuse(&state, &headers, body, check_body, RENDER_ROUTE.refuse("calling the /render-template route")).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_read_as_meilisearch_reads_them() {
        // Each watched on Meilisearch 1.50.
        let template = |message: &str| ("invalid_render_template".to_owned(), message.to_owned());
        let input = |message: &str| ("invalid_render_input".to_owned(), message.to_owned());
        let cases = [
            (json!({}), ("bad_request".to_owned(), "Missing field `template`".to_owned())),
            (json!({"foo": 1}), ("bad_request".to_owned(), "Unknown field `foo`: expected one of `template`, `input`".to_owned())),
            (json!({"template": "x"}), template("Invalid value type at `.template`: expected an object, but found a string: `\"x\"`")),
            (json!({"template": null}), template("Invalid value type at `.template`: expected an object, but found null")),
            (
                json!({"template": {"id": "x"}}),
                template("Unknown field `id` inside `.template`: expected one of `kind`, `indexUid`, `embedder`, `fragment`, `inline`, `documentTemplateMaxBytes`"),
            ),
            (
                json!({"template": {"kind": "nope"}}),
                template("Unknown value `nope` at `.template.kind`: expected one of `documentTemplate`, `chatDocumentTemplate`, `indexingFragment`, `searchFragment`, `inlineDocumentTemplate`, `inlineFragment`"),
            ),
            (json!({"template": {}}), template("Missing field `kind` inside `.template`")),
            (
                json!({"template": {"kind": "documentTemplate", "indexUid": "bad uid"}}),
                template("Invalid value at `.template.indexUid`: `bad uid` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
            ),
            (
                json!({"template": {"kind": "documentTemplate", "documentTemplateMaxBytes": 0}}),
                template("Invalid value at `.template.documentTemplateMaxBytes`: a non-zero integer value lower than `18446744073709551615` was expected, but found a zero"),
            ),
            (
                json!({"template": {"kind": "documentTemplate", "embedder": 5}}),
                template("Invalid value type at `.template.embedder`: expected a string, but found a positive integer: `5`"),
            ),
            (json!({"template": {"kind": "documentTemplate"}, "input": 5}), input("Invalid value type at `.input`: expected an object, but found a positive integer: `5`")),
            (json!({"template": {"kind": "documentTemplate"}, "input": {}}), input("Missing field `kind` inside `.input`")),
            (
                json!({"template": {"kind": "documentTemplate"}, "input": {"kind": "x"}}),
                input("Unknown value `x` at `.input.kind`: expected one of `indexDocument`, `inlineDocument`, `inlineSearch`"),
            ),
            (
                json!({"template": {"kind": "documentTemplate"}, "input": {"kind": "indexDocument", "foo": 1}}),
                input("Unknown field `foo` inside `.input`: expected one of `kind`, `indexUid`, `id`, `inline`"),
            ),
            (
                json!({"template": {"kind": "documentTemplate"}, "input": {"kind": "indexDocument", "id": 5}}),
                input("Invalid value type at `.input.id`: expected a string, but found a positive integer: `5`"),
            ),
        ];
        for (body, expected) in cases {
            let error = check_body(&body).unwrap_err();
            assert_eq!((error.code, error.message), expected, "{body}");
        }
        for valid in [
            json!({"template": {"kind": "inlineDocumentTemplate", "inline": "x"}}),
            json!({"template": {"kind": "documentTemplate"}, "input": null}),
            json!({"template": {"kind": "documentTemplate", "indexUid": null, "inline": null}}),
        ] {
            assert!(check_body(&valid).is_ok(), "{valid}");
        }
    }
}
