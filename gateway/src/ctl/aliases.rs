//! `miroirctl alias` for people: the aliases and the indexes each names.

use serde_json::Value;

use super::{table, text};

/// `GET /_miroir/aliases` (or one alias, `GET`/`PUT /_miroir/aliases/{name}`) for people.
pub fn render_aliases(answer: &Value) -> String {
    let aliases: Vec<&Value> = match answer.get("results").and_then(Value::as_array) {
        Some(results) => results.iter().collect(),
        None => vec![answer],
    };
    let rows: Vec<Vec<String>> =
        aliases.iter().map(|alias| vec![text(&alias["name"]), text(&alias["indexes"]), text(&alias["updatedAt"])]).collect();
    table(&["ALIAS", "INDEXES", "UPDATED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aliases_are_a_table_one_alias_too() {
        let one = json!({"name": "products", "indexes": ["products_v2"], "createdAt": "2026-12-07T06:00:00Z", "updatedAt": "2026-12-07T06:10:00Z"});
        let expected = "ALIAS     INDEXES      UPDATED\nproducts  products_v2  2026-12-07T06:10:00Z\n";
        assert_eq!(render_aliases(&one), expected);
        assert_eq!(render_aliases(&json!({"results": [one]})), expected);
        let several = json!({"results": [{"name": "all", "indexes": ["a", "b"], "updatedAt": "t"}]});
        assert_eq!(render_aliases(&several), "ALIAS  INDEXES  UPDATED\nall    a,b      t\n");
        assert_eq!(render_aliases(&json!({"results": []})), "ALIAS  INDEXES  UPDATED\n");
    }
}
