//! The API key action vocabulary, exactly as Meilisearch 1.50 spells, orders and expands it.
//!
//! A key's `actions` may hold wildcards (`*`, `documents.*`, `*.get`, …). Meilisearch does not
//! match wildcards at request time: when a key is stored it expands them once into the set of
//! concrete actions the key holds, and a route is allowed when its action is in that set. We
//! keep the same two steps ([`expand`] then set membership) so odd corners behave the same, e.g.
//! `documents.*` does not grant the `documents.*` route action used by `/documents/edit`; only
//! `*` does.

use std::collections::BTreeSet;

/// Declares `Action` with its wire names, in Meilisearch's declaration order (the order the
/// "expected one of" error lists them in).
macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Action {
            $($variant),*
        }

        impl Action {
            /// Every action, in Meilisearch's declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];
            /// Every wire name, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The name used in key bodies and views (`documents.add`, `*`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name),*
                }
            }
        }
    };
}

actions! {
    All => "*",
    Search => "search",
    DocumentsAll => "documents.*",
    DocumentsAdd => "documents.add",
    DocumentsGet => "documents.get",
    DocumentsDelete => "documents.delete",
    IndexesAll => "indexes.*",
    IndexesCreate => "indexes.create",
    IndexesGet => "indexes.get",
    IndexesUpdate => "indexes.update",
    IndexesDelete => "indexes.delete",
    IndexesSwap => "indexes.swap",
    TasksAll => "tasks.*",
    TasksCancel => "tasks.cancel",
    TasksDelete => "tasks.delete",
    TasksGet => "tasks.get",
    SettingsAll => "settings.*",
    SettingsGet => "settings.get",
    SettingsUpdate => "settings.update",
    StatsAll => "stats.*",
    StatsGet => "stats.get",
    MetricsAll => "metrics.*",
    MetricsGet => "metrics.get",
    DumpsAll => "dumps.*",
    DumpsCreate => "dumps.create",
    SnapshotsAll => "snapshots.*",
    SnapshotsCreate => "snapshots.create",
    Version => "version",
    KeysCreate => "keys.create",
    KeysGet => "keys.get",
    KeysUpdate => "keys.update",
    KeysDelete => "keys.delete",
    ExperimentalGet => "experimental.get",
    ExperimentalUpdate => "experimental.update",
    Export => "export",
    NetworkGet => "network.get",
    NetworkUpdate => "network.update",
    ChatCompletions => "chatCompletions",
    ChatsAll => "chats.*",
    ChatsGet => "chats.get",
    ChatsDelete => "chats.delete",
    ChatsSettingsAll => "chatsSettings.*",
    ChatsSettingsGet => "chatsSettings.get",
    ChatsSettingsUpdate => "chatsSettings.update",
    AllGet => "*.get",
    WebhooksGet => "webhooks.get",
    WebhooksUpdate => "webhooks.update",
    WebhooksDelete => "webhooks.delete",
    WebhooksCreate => "webhooks.create",
    WebhooksAll => "webhooks.*",
    IndexesCompact => "indexes.compact",
    FieldsPost => "fields.post",
    TasksCompact => "tasks.compact",
    DynamicSearchRulesGet => "dynamicSearchRules.get",
    DynamicSearchRulesCreate => "dynamicSearchRules.create",
    DynamicSearchRulesUpdate => "dynamicSearchRules.update",
    DynamicSearchRulesDelete => "dynamicSearchRules.delete",
    DynamicSearchRulesAll => "dynamicSearchRules.*",
}

/// How an action relates to a key restricted to some indexes (Meilisearch's `IndexScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexScope {
    /// Global only: an index-restricted key may not hold it, and is refused on index-less routes.
    DenyIndexScope,
    /// Global route whose handler filters by index itself, so an index-restricted key is let in.
    RouteHandlerChecksIndex,
    /// Always used on an index route; the authorizer checks the index.
    ControllerChecksIndex,
    /// A wildcard that expands to actions of several scopes.
    MultipleScope,
}

impl Action {
    /// Parses a wire name (`documents.add`); `None` when Meilisearch does not know it.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::NAMES.iter().position(|n| *n == name).map(|i| Action::ALL[i])
    }

    /// Whether `*.get` grants this action (Meilisearch's `is_read`). Wildcards are never
    /// read actions because expansion is not recursive; `keys.get` is left out on purpose so
    /// a read-only key cannot read other keys' secrets.
    pub fn is_read(self) -> bool {
        use Action::*;
        matches!(
            self,
            Search
                | DocumentsGet
                | Export
                | IndexesGet
                | TasksGet
                | SettingsGet
                | StatsGet
                | MetricsGet
                | Version
                | ExperimentalGet
                | NetworkGet
                | ChatsGet
                | ChatsSettingsGet
                | WebhooksGet
                | FieldsPost
                | DynamicSearchRulesGet
        )
    }

    pub fn index_scope(self) -> IndexScope {
        use Action::*;
        use IndexScope::*;
        match self {
            All | AllGet | DocumentsAll | IndexesAll | TasksAll | SettingsAll => MultipleScope,
            DocumentsGet | Search | IndexesCreate | IndexesGet | IndexesSwap | TasksCancel | TasksDelete | TasksGet | SettingsGet
            | StatsAll | StatsGet | ChatCompletions => RouteHandlerChecksIndex,
            DocumentsAdd | DocumentsDelete | IndexesUpdate | IndexesDelete | IndexesCompact | FieldsPost | SettingsUpdate => {
                ControllerChecksIndex
            }
            TasksCompact
            | MetricsAll
            | MetricsGet
            | DumpsAll
            | DumpsCreate
            | SnapshotsAll
            | SnapshotsCreate
            | Version
            | KeysCreate
            | KeysGet
            | KeysUpdate
            | KeysDelete
            | ExperimentalGet
            | ExperimentalUpdate
            | Export
            | NetworkGet
            | NetworkUpdate
            | ChatsAll
            | ChatsGet
            | ChatsDelete
            | ChatsSettingsAll
            | ChatsSettingsGet
            | ChatsSettingsUpdate
            | WebhooksGet
            | WebhooksUpdate
            | WebhooksDelete
            | WebhooksCreate
            | WebhooksAll
            | DynamicSearchRulesGet
            | DynamicSearchRulesCreate
            | DynamicSearchRulesUpdate
            | DynamicSearchRulesDelete
            | DynamicSearchRulesAll => DenyIndexScope,
        }
    }

    /// The concrete actions a wildcard stands for when a key is stored; a concrete action
    /// stands for itself.
    fn expansion(self) -> Vec<Action> {
        use Action::*;
        match self {
            // `*` grants every action, wildcards included, but not `*.get` itself.
            All => Action::ALL.iter().copied().filter(|a| *a != AllGet).collect(),
            AllGet => Action::ALL.iter().copied().filter(|a| a.is_read()).collect(),
            DocumentsAll => vec![DocumentsGet, DocumentsDelete, DocumentsAdd],
            IndexesAll => vec![IndexesCreate, IndexesDelete, IndexesGet, IndexesUpdate, IndexesSwap, IndexesCompact],
            SettingsAll => vec![SettingsGet, SettingsUpdate],
            DumpsAll => vec![DumpsCreate],
            SnapshotsAll => vec![SnapshotsCreate],
            TasksAll => vec![TasksGet, TasksDelete, TasksCancel, TasksCompact],
            StatsAll => vec![StatsGet],
            MetricsAll => vec![MetricsGet],
            ChatsAll => vec![ChatsGet, ChatsDelete],
            ChatsSettingsAll => vec![ChatsSettingsGet, ChatsSettingsUpdate],
            WebhooksAll => vec![WebhooksGet, WebhooksUpdate, WebhooksDelete, WebhooksCreate],
            DynamicSearchRulesAll => {
                vec![DynamicSearchRulesGet, DynamicSearchRulesCreate, DynamicSearchRulesUpdate, DynamicSearchRulesDelete]
            }
            other => vec![other],
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of actions a key with these `actions` holds, as Meilisearch stores it.
pub fn expand(actions: &[Action]) -> BTreeSet<Action> {
    actions.iter().flat_map(|a| a.expansion()).collect()
}

#[cfg(test)]
mod tests;
