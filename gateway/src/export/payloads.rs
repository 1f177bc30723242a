//! Cutting an index's documents into the payloads an export posts, as a node cuts them: each
//! document serialized on its own and appended (no separator: a Meilisearch NDJSON reader takes
//! a stream of JSON values), a payload sent before a document would take it over the limit, and
//! every payload holding at least one document, however large. Pure.

/// The documents waiting to be sent.
#[derive(Debug)]
pub struct Payloads {
    limit: usize,
    buffer: Vec<u8>,
}

impl Payloads {
    pub fn new(limit: usize) -> Payloads {
        Payloads { limit, buffer: Vec::new() }
    }

    /// Adds one serialized document; returns the payload to send first when it would not fit.
    pub fn push(&mut self, document: &[u8]) -> Option<Vec<u8>> {
        let full = (!self.buffer.is_empty() && self.buffer.len() + document.len() > self.limit).then(|| std::mem::take(&mut self.buffer));
        self.buffer.extend_from_slice(document);
        full
    }

    /// What is left to send, if anything.
    pub fn finish(self) -> Option<Vec<u8>> {
        (!self.buffer.is_empty()).then_some(self.buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut(limit: usize, documents: &[&str]) -> Vec<String> {
        let mut payloads = Payloads::new(limit);
        let mut sent: Vec<String> =
            documents.iter().filter_map(|d| payloads.push(d.as_bytes())).map(|p| String::from_utf8(p).unwrap()).collect();
        sent.extend(payloads.finish().map(|p| String::from_utf8(p).unwrap()));
        sent
    }

    #[test]
    fn documents_are_sent_in_payloads_of_at_most_the_limit_with_at_least_one_document() {
        // 24, 36 and 24 bytes: the first two fill 60 bytes exactly.
        let documents = [r#"{"id":4,"t":"d","g":"x"}"#, r#"{"id":5,"t":"e","g":"x","n":{"a":1}}"#, r#"{"id":3,"t":"c","g":"x"}"#];
        assert_eq!(cut(60, &documents), [format!("{}{}", documents[0], documents[1]), documents[2].to_owned()]);
        assert_eq!(cut(59, &documents), documents);
        assert_eq!(cut(1, &documents), documents);
        assert!(cut(10, &[]).is_empty());
    }

    proptest! {
        #[test]
        fn nothing_is_lost_and_no_payload_of_several_documents_is_over_the_limit(
            limit in 1usize..200,
            sizes in proptest::collection::vec(1usize..100, 0..40),
        ) {
            let documents: Vec<String> = sizes.iter().enumerate().map(|(i, size)| format!("{}", i % 10).repeat(*size)).collect();
            let refs: Vec<&str> = documents.iter().map(String::as_str).collect();
            let payloads = cut(limit, &refs);
            prop_assert_eq!(payloads.concat(), documents.concat());
            for payload in &payloads {
                let single = documents.iter().any(|d| d == payload);
                prop_assert!(payload.len() <= limit || single, "{} bytes", payload.len());
            }
        }
    }
}
