//! The request headers of Miroir's own that change how a request is served, applied after
//! authentication (so an unauthenticated request learns nothing from them):
//! `Idempotency-Key` on writes (`crate::idempotency`), `Miroir-Read-After-Task` on reads
//! (`crate::read_after_task`) and `Miroir-Session` on both (`crate::session`, outermost, so a
//! write answered from an idempotency reservation gets its session token too). Documented
//! for SDK users in `docs/miroir-headers.md`.

use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::state::AppState;

/// `router`'s routes behind the middlewares of Miroir's headers.
pub fn layer(router: Router, state: AppState) -> Router {
    router
        .layer(from_fn_with_state(state.clone(), crate::idempotency::idempotent_writes))
        .layer(from_fn_with_state(state.clone(), crate::read_after_task::read_after_task))
        .layer(from_fn_with_state(state, crate::session::session))
}
