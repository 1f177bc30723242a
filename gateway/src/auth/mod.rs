//! API keys, actions, tenant tokens.
