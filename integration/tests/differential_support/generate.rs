//! Search requests generated from the corpus with a seeded generator, so hundreds of queries
//! of every kind run and a failure names a request that reproduces it (same seed, same corpus).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// What a generated request exercises; the report counts answers per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Keyword,
    Typo,
    Prefix,
    Words,
    Filter,
    Sort,
    Facets,
    DeepOffset,
    Pages,
    Distinct,
    SearchOn,
    Highlight,
    MultiSearch,
    Federated,
}

impl Kind {
    /// Whether `q` holds words: only then does each shard derive typos and prefixes from its
    /// own word dictionary, the one difference sharding Meilisearch cannot remove.
    pub fn has_words(self, request: &Value) -> bool {
        let q = |query: &Value| query.get("q").and_then(Value::as_str).is_some_and(|q| !q.trim().is_empty());
        match request.get("queries").and_then(Value::as_array) {
            Some(queries) => queries.iter().any(q),
            None => q(request),
        }
    }
}

/// The vocabulary requests are drawn from: words of names and summaries, facet values.
pub struct Vocabulary {
    words: Vec<String>,
    summaries: Vec<Vec<String>>,
    sections: Vec<String>,
    tags: Vec<String>,
    sizes: Vec<u64>,
}

impl Vocabulary {
    pub fn of(documents: &[Value]) -> Vocabulary {
        let mut words = Vec::new();
        let mut summaries = Vec::new();
        let mut sections = std::collections::BTreeSet::new();
        let mut tags = std::collections::BTreeSet::new();
        let mut sizes = Vec::new();
        for document in documents {
            let summary: Vec<String> = document["summary"]
                .as_str()
                .unwrap_or_default()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|word| word.len() >= 3 && word.chars().all(|c| c.is_ascii_alphabetic()))
                .map(str::to_lowercase)
                .collect();
            words.extend(summary.iter().cloned());
            if summary.len() >= 3 {
                summaries.push(summary);
            }
            if let Some(section) = document["section"].as_str() {
                sections.insert(section.to_owned());
            }
            for tag in document["tags"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                tags.insert(tag.to_owned());
            }
            if let Some(size) = document["installed_size_kb"].as_u64() {
                sizes.push(size);
            }
        }
        sizes.sort_unstable();
        Vocabulary { words, summaries, sections: sections.into_iter().collect(), tags: tags.into_iter().collect(), sizes }
    }
}

/// `count` requests of every kind in turn, from `seed`.
pub fn requests(vocabulary: &Vocabulary, seed: u64, count: usize) -> Vec<(Kind, Value)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let kinds = [
        Kind::Keyword,
        Kind::Typo,
        Kind::Prefix,
        Kind::Words,
        Kind::Filter,
        Kind::Sort,
        Kind::Facets,
        Kind::DeepOffset,
        Kind::Pages,
        Kind::Distinct,
        Kind::SearchOn,
        Kind::Highlight,
        Kind::MultiSearch,
        Kind::Federated,
    ];
    (0..count).map(|i| (kinds[i % kinds.len()], Generator { vocabulary, rng: &mut rng }.request(kinds[i % kinds.len()]))).collect()
}

struct Generator<'a> {
    vocabulary: &'a Vocabulary,
    rng: &'a mut StdRng,
}

impl Generator<'_> {
    fn request(&mut self, kind: Kind) -> Value {
        match kind {
            Kind::Keyword => {
                let q = self.word();
                self.with_extras(json!({"q": q}))
            }
            Kind::Typo => {
                let q = self.typo();
                self.with_extras(json!({"q": q}))
            }
            Kind::Prefix => {
                let word = self.long_word();
                let cut = self.rng.gen_range(3..=word.len().min(6));
                self.with_extras(json!({"q": word[..cut]}))
            }
            Kind::Words => {
                let strategy = ["last", "all", "frequency"].choose(self.rng).unwrap();
                json!({"q": self.phrase(), "matchingStrategy": strategy, "limit": self.rng.gen_range(5..=30)})
            }
            Kind::Filter => {
                let q = if self.rng.gen_bool(0.5) { self.word() } else { String::new() };
                json!({"q": q, "filter": self.filter(), "limit": self.rng.gen_range(5..=40)})
            }
            Kind::Sort => {
                let q = if self.rng.gen_bool(0.5) { self.word() } else { String::new() };
                let mut request = json!({"q": q, "sort": self.sort(), "limit": self.rng.gen_range(5..=50)});
                if self.rng.gen_bool(0.3) {
                    request["filter"] = json!(self.filter());
                }
                request
            }
            Kind::Facets => {
                let q = if self.rng.gen_bool(0.4) { self.word() } else { String::new() };
                let mut request =
                    json!({"q": q, "facets": ["section", "priority", "architecture", "tags", "installed_size_kb"], "limit": 3});
                if self.rng.gen_bool(0.4) {
                    request["filter"] = json!(self.filter());
                }
                request
            }
            Kind::DeepOffset => {
                let q = if self.rng.gen_bool(0.5) { self.word() } else { String::new() };
                json!({"q": q, "sort": self.sort(), "offset": self.rng.gen_range(100..=950), "limit": self.rng.gen_range(10..=50)})
            }
            Kind::Pages => {
                let q = if self.rng.gen_bool(0.5) { self.word() } else { String::new() };
                json!({"q": q, "page": self.rng.gen_range(1..=8), "hitsPerPage": self.rng.gen_range(1..=25), "sort": self.sort()})
            }
            Kind::Distinct => {
                // sorted on the unique `name` last, so which document of a value a node keeps is
                // determined; page mode makes totals exhaustive
                let attribute = ["section", "priority", "architecture"].choose(self.rng).unwrap();
                let q = if self.rng.gen_bool(0.5) { self.word() } else { String::new() };
                let mut request = json!({"q": q, "distinct": attribute, "sort": ["name:asc"]});
                if self.rng.gen_bool(0.5) {
                    request["page"] = json!(self.rng.gen_range(1..=3));
                    request["hitsPerPage"] = json!(self.rng.gen_range(2..=10));
                } else {
                    request["offset"] = json!(self.rng.gen_range(0..=10));
                    request["limit"] = json!(self.rng.gen_range(3..=15));
                }
                request
            }
            Kind::SearchOn => {
                let on = [["summary"].as_slice(), ["name"].as_slice(), ["name", "summary"].as_slice()].choose(self.rng).unwrap().to_vec();
                json!({"q": self.word(), "attributesToSearchOn": on, "limit": 15})
            }
            Kind::Highlight => json!({
                "q": self.phrase(),
                "attributesToHighlight": ["summary", "name"],
                "attributesToCrop": ["description"],
                "cropLength": self.rng.gen_range(5..=15),
                "showMatchesPosition": true,
                "attributesToRetrieve": ["id", "name", "summary", "description"],
                "limit": 8,
            }),
            Kind::MultiSearch => {
                let q = self.word();
                let first = self.with_extras(json!({"indexUid": "INDEX", "q": q}));
                json!({"queries": [
                    first,
                    {"indexUid": "INDEX", "q": "", "filter": self.filter(), "facets": ["section"], "limit": 5, "sort": self.sort()},
                ]})
            }
            Kind::Federated => json!({
                "federation": {"offset": self.rng.gen_range(0..=20), "limit": self.rng.gen_range(5..=20), "facetsByIndex": {"INDEX": ["section", "priority"]}},
                "queries": [
                    {"indexUid": "INDEX", "q": self.word()},
                    {"indexUid": "INDEX", "q": self.word(), "filter": self.filter(), "federationOptions": {"weight": 0.8}},
                ],
            }),
        }
    }

    /// Sometimes a filter or facets on top of a text query.
    fn with_extras(&mut self, mut request: Value) -> Value {
        match self.rng.gen_range(0..4) {
            0 => request["filter"] = json!(self.filter()),
            1 => request["facets"] = json!(["section", "priority"]),
            2 => request["limit"] = json!(self.rng.gen_range(1..=60)),
            _ => {}
        }
        request
    }

    fn word(&mut self) -> String {
        self.vocabulary.words.choose(self.rng).unwrap().clone()
    }

    fn long_word(&mut self) -> String {
        loop {
            let word = self.word();
            if word.len() >= 5 {
                return word;
            }
        }
    }

    /// A word of five or more letters with one letter replaced, dropped or doubled.
    fn typo(&mut self) -> String {
        let mut letters: Vec<char> = self.long_word().chars().collect();
        let at = self.rng.gen_range(1..letters.len());
        match self.rng.gen_range(0..3) {
            0 => letters[at] = (b'a' + self.rng.gen_range(0..26)) as char,
            1 => {
                letters.remove(at);
            }
            _ => letters.insert(at, letters[at]),
        }
        letters.into_iter().collect()
    }

    /// Two or three consecutive words of one summary.
    fn phrase(&mut self) -> String {
        let summary = self.vocabulary.summaries.choose(self.rng).unwrap();
        let length = self.rng.gen_range(2..=3.min(summary.len()));
        let start = self.rng.gen_range(0..=summary.len() - length);
        summary[start..start + length].join(" ")
    }

    fn filter(&mut self) -> String {
        let size = self.vocabulary.sizes[self.rng.gen_range(0..self.vocabulary.sizes.len())];
        let section = self.vocabulary.sections.choose(self.rng).unwrap().clone();
        let tag = self.vocabulary.tags.choose(self.rng).unwrap().clone();
        match self.rng.gen_range(0..7) {
            0 => format!("section = '{section}'"),
            1 => format!("installed_size_kb > {size}"),
            2 => format!("tags = '{tag}'"),
            3 => format!("section = '{section}' OR tags = '{tag}'"),
            4 => format!("architecture = all AND installed_size_kb {} TO {}", size / 2, size.saturating_mul(2).max(10)),
            5 => format!("priority != optional OR section IN ['{section}', 'libs']"),
            _ => format!("download_size < {} AND NOT section = '{section}'", size.saturating_mul(500).max(1000)),
        }
    }

    fn sort(&mut self) -> Value {
        let options: [&[&str]; 6] = [
            &["installed_size_kb:desc", "name:asc"],
            &["installed_size_kb:asc", "name:asc"],
            &["name:asc"],
            &["name:desc"],
            &["download_size:desc", "name:asc"],
            &["download_size:asc", "name:desc"],
        ];
        json!(options.choose(self.rng).unwrap())
    }
}
