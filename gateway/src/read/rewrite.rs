//! Turning a node's error object into the one the client gets: node index names
//! (`movies__rank-1`) become the client's index uid, Miroir's shard field disappears
//! ([`client_message`]), and the `Inside `.queries[k]`` context a node adds for its k-th query
//! is mapped back to the client's query (or dropped for a single-index search). Pure.

use miroir_schemas::error::ResponseError;
use miroir_schemas::node_layout::client_message;
#[cfg(test)]
use miroir_schemas::node_layout::rewrite_node_index_names;

const QUERY_PREFIX_START: &str = "Inside `.queries[";
const QUERY_PREFIX_END: &str = "]`: ";

/// Splits `Inside `.queries[k]`: rest` into `(Some(k), rest)`.
pub fn split_query_context(message: &str) -> (Option<usize>, &str) {
    let parsed = message.strip_prefix(QUERY_PREFIX_START).and_then(|rest| {
        let (digits, rest) = rest.split_once(QUERY_PREFIX_END)?;
        Some((digits.parse::<usize>().ok()?, rest))
    });
    match parsed {
        Some((position, rest)) => (Some(position), rest),
        None => (None, message),
    }
}

/// How the client asked: the error's shape depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRequest {
    /// `/indexes/{uid}/search` and other single-index routes: no query context, and the status
    /// that goes with the code (a node's federated answer turns `index_not_found` into a 400).
    SingleIndex,
    /// `/multi-search` without `federation`: the context names the client's query; the node's
    /// status is kept.
    MultiSearch,
    /// `/multi-search` with `federation`: as [`ClientRequest::MultiSearch`], and the client's
    /// own `facetsByIndex` may be named.
    FederatedSearch,
}

/// The context a node adds to errors about a federation's `facetsByIndex` list. Miroir sends
/// every search's facets that way, so for a client that sent `facets` (a single-index search or
/// a plain multi-search query) it is not the client's context and goes.
const FACETS_BY_INDEX_CONTEXT: &str = "Inside `.federation.facetsByIndex.";

/// The error the client gets for a node's error object. `client_query_of` maps the node's query
/// position to the client's.
pub fn client_error(node_error: &ResponseError, request: ClientRequest, client_query_of: impl Fn(usize) -> Option<usize>) -> ResponseError {
    let (node_query, rest) = split_query_context(&node_error.message);
    let rest = match request {
        ClientRequest::FederatedSearch => rest,
        ClientRequest::SingleIndex | ClientRequest::MultiSearch => without_facets_by_index_context(rest),
    };
    let rest = client_message(rest);
    let mut error = node_error.clone();
    match request {
        ClientRequest::SingleIndex => {
            error.message = rest;
            if let Some(code) = error.known_code() {
                error.http_status = code.http_status();
            }
        }
        ClientRequest::MultiSearch | ClientRequest::FederatedSearch => {
            error.message = match node_query.and_then(client_query_of) {
                Some(query) => format!("{QUERY_PREFIX_START}{query}{QUERY_PREFIX_END}{rest}"),
                None => rest,
            };
        }
    }
    error
}

/// `Inside `.federation.facetsByIndex.<index>`: rest` → `rest`.
fn without_facets_by_index_context(message: &str) -> &str {
    message.strip_prefix(FACETS_BY_INDEX_CONTEXT).and_then(|rest| rest.split_once("`: ")).map_or(message, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::error::Code;
    use proptest::prelude::*;

    #[test]
    fn node_index_names_become_client_names() {
        assert_eq!(rewrite_node_index_names("Index `movies__rank-3` not found."), "Index `movies` not found.");
        assert_eq!(
            rewrite_node_index_names("Inside `.federation.facetsByIndex.a__rank-0`: x\n - Note: index `a__rank-0` is not used"),
            "Inside `.federation.facetsByIndex.a`: x\n - Note: index `a` is not used"
        );
        assert_eq!(rewrite_node_index_names("a__rank-1__rank-2"), "a__rank-1");
        assert_eq!(rewrite_node_index_names("no__rank-x here, rank-1 stays"), "no__rank-x here, rank-1 stays");
        assert_eq!(rewrite_node_index_names("été `m__rank-10`"), "été `m`");
    }

    #[test]
    fn single_search_errors_lose_the_query_context_and_take_the_code_status() {
        let node = ResponseError::new(Code::IndexNotFound, "Inside `.queries[3]`: Index `movies__rank-1` not found.").with_http_status(400);
        let error = client_error(&node, ClientRequest::SingleIndex, |_| Some(0));
        assert_eq!(error.message, "Index `movies` not found.");
        assert_eq!(error.http_status, 404);
        assert_eq!(error.code, "index_not_found");
    }

    #[test]
    fn multi_search_errors_name_the_client_query() {
        let node =
            ResponseError::new(Code::InvalidSearchFilter, "Inside `.queries[5]`: Attribute `x` is not filterable.").with_http_status(400);
        let error = client_error(&node, ClientRequest::MultiSearch, |k| Some(k / 3));
        assert_eq!(error.message, "Inside `.queries[1]`: Attribute `x` is not filterable.");
        assert_eq!(error.http_status, 400);
    }

    #[test]
    fn facet_errors_lose_the_federation_context_only_for_clients_that_sent_facets() {
        // Meilisearch 1.50: a federated query's facet error, and the same facet asked of
        // `/indexes/o/search` ("Invalid facet distribution: …" alone) or of a plain multi-search
        // ("Inside `.queries[1]`: Invalid facet distribution: …").
        let facets = "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `genre`.";
        let node = ResponseError::new(
            Code::InvalidSearchFacets,
            format!("Inside `.queries[2]`: Inside `.federation.facetsByIndex.o__rank-0`: {facets}"),
        )
        .with_http_status(400);
        assert_eq!(client_error(&node, ClientRequest::SingleIndex, |_| Some(0)).message, facets);
        assert_eq!(client_error(&node, ClientRequest::MultiSearch, |_| Some(1)).message, format!("Inside `.queries[1]`: {facets}"));
        assert_eq!(
            client_error(&node, ClientRequest::FederatedSearch, |_| Some(0)).message,
            format!("Inside `.queries[0]`: Inside `.federation.facetsByIndex.o`: {facets}")
        );
    }

    proptest! {
        #[test]
        fn no_node_index_name_survives(uid in "[A-Za-z0-9-][A-Za-z0-9_-]{0,20}", k in 0u32..1000, before in "[ `.:a-z]{0,10}", after in "[ `.:]{1,10}") {
            let node_uid = format!("{uid}__rank-{k}");
            let message = format!("{before}{node_uid}{after}{node_uid}");
            let rewritten = rewrite_node_index_names(&message);
            prop_assert!(!rewritten.contains(&format!("__rank-{k}")) || uid.contains(&format!("__rank-{k}")), "{}", rewritten);
            prop_assert!(rewritten.contains(&uid));
        }

        #[test]
        fn messages_without_node_names_are_unchanged(message in "[^_]{0,60}") {
            prop_assert_eq!(rewrite_node_index_names(&message), message);
        }
    }
}
