//! The index settings Meilisearch 1.50 knows: their names, sub-routes, update verbs and error
//! codes, in the order Meilisearch declares them (its "unknown field" message lists them so,
//! and task details print them so).

use miroir_schemas::error::Code;

/// How a sub-route replaces its setting: `PUT` for whole values, `PATCH` for objects that
/// Meilisearch merges field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateVerb {
    Put,
    Patch,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingField {
    /// The camelCase key in the settings object.
    pub name: &'static str,
    /// The sub-route under `/indexes/{uid}/settings/`.
    pub route: &'static str,
    pub verb: UpdateVerb,
    /// The code of every validation error about this setting.
    pub code: Code,
}

const fn field(name: &'static str, route: &'static str, verb: UpdateVerb, code: Code) -> SettingField {
    SettingField { name, route, verb, code }
}

use UpdateVerb::{Patch, Put};

/// Every setting, in Meilisearch's declaration order.
pub const FIELDS: [SettingField; 22] = [
    field("displayedAttributes", "displayed-attributes", Put, Code::InvalidSettingsDisplayedAttributes),
    field("searchableAttributes", "searchable-attributes", Put, Code::InvalidSettingsSearchableAttributes),
    field("filterableAttributes", "filterable-attributes", Put, Code::InvalidSettingsFilterableAttributes),
    field("sortableAttributes", "sortable-attributes", Put, Code::InvalidSettingsSortableAttributes),
    field("foreignKeys", "foreign-keys", Put, Code::InvalidSettingsForeignKeys),
    field("rankingRules", "ranking-rules", Put, Code::InvalidSettingsRankingRules),
    field("stopWords", "stop-words", Put, Code::InvalidSettingsStopWords),
    field("nonSeparatorTokens", "non-separator-tokens", Put, Code::InvalidSettingsNonSeparatorTokens),
    field("separatorTokens", "separator-tokens", Put, Code::InvalidSettingsSeparatorTokens),
    field("dictionary", "dictionary", Put, Code::InvalidSettingsDictionary),
    field("synonyms", "synonyms", Put, Code::InvalidSettingsSynonyms),
    field("distinctAttribute", "distinct-attribute", Put, Code::InvalidSettingsDistinctAttribute),
    field("proximityPrecision", "proximity-precision", Put, Code::InvalidSettingsProximityPrecision),
    field("typoTolerance", "typo-tolerance", Patch, Code::InvalidSettingsTypoTolerance),
    field("faceting", "faceting", Patch, Code::InvalidSettingsFaceting),
    field("pagination", "pagination", Patch, Code::InvalidSettingsPagination),
    field("embedders", "embedders", Patch, Code::InvalidSettingsEmbedders),
    field("searchCutoffMs", "search-cutoff-ms", Put, Code::InvalidSettingsSearchCutoffMs),
    field("localizedAttributes", "localized-attributes", Put, Code::InvalidSettingsLocalizedAttributes),
    field("facetSearch", "facet-search", Put, Code::InvalidSettingsFacetSearch),
    field("prefixSearch", "prefix-search", Put, Code::InvalidSettingsPrefixSearch),
    field("chat", "chat", Patch, Code::InvalidSettingsIndexChat),
];

/// Every setting name, in declaration order.
pub fn names() -> Vec<&'static str> {
    FIELDS.iter().map(|field| field.name).collect()
}

pub fn by_name(name: &str) -> Option<&'static SettingField> {
    FIELDS.iter().find(|field| field.name == name)
}

pub fn by_route(route: &str) -> Option<&'static SettingField> {
    FIELDS.iter().find(|field| field.route == route)
}

/// Position of a setting in declaration order (unknown names last).
pub fn order(name: &str) -> usize {
    FIELDS.iter().position(|field| field.name == name).unwrap_or(FIELDS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_kebab_case_of_names() {
        for field in FIELDS {
            let kebab: String =
                field.name.chars().flat_map(|c| if c.is_ascii_uppercase() { vec!['-', c.to_ascii_lowercase()] } else { vec![c] }).collect();
            assert_eq!(kebab, field.route);
            assert_eq!(by_route(field.route), Some(&field));
            assert_eq!(by_name(field.name), Some(&field));
        }
    }

    #[test]
    fn objects_merged_by_meilisearch_are_patched() {
        let patched: Vec<&str> = FIELDS.iter().filter(|f| f.verb == UpdateVerb::Patch).map(|f| f.name).collect();
        assert_eq!(patched, ["typoTolerance", "faceting", "pagination", "embedders", "chat"]);
    }
}
