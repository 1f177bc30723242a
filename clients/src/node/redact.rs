//! Node URLs may embed credentials (`http://user:pass@host`); they must never reach a log.

/// `url` with any `user:password@` part replaced by `***@`. Anything that does not look like
/// a URL with an authority is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_credentials_only() {
        assert_eq!(redact_url("http://u:secret@h:7700/x?y=1"), "http://***@h:7700/x?y=1");
        assert_eq!(redact_url("http://h:7700/a@b"), "http://h:7700/a@b");
        assert_eq!(redact_url("http://h:7700"), "http://h:7700");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
