//! One gateway's copy of the key set: the [`KeyStore`] folded from the `meta` log by the
//! shared [`MetaRing`] (how far it is folded, what each recent record did).

use miroir_schemas::meta_log::{KeyChange, MetaEnvelope};

use super::store::{Applied, KeyStore};
use crate::meta_fold::{MetaRing, MetaState};

impl MetaState for KeyStore {
    type Change = KeyChange;
    type Outcome = Applied;

    fn change_of(envelope: MetaEnvelope) -> Option<KeyChange> {
        envelope.key_change()
    }

    fn apply(&mut self, change: &KeyChange) -> Applied {
        KeyStore::apply(self, change)
    }
}

/// The key set folded so far.
pub type KeyRing = MetaRing<KeyStore>;

#[cfg(test)]
mod tests;
