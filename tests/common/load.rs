//! The tests share one process: the few that load the machine with many whole-suite runs at
//! once run while no timed run of the harness does, as when each test file was a binary of
//! its own and ran alone.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::const_new(());

/// Held by a test that runs many whole suites at once.
pub async fn heavy() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// [`heavy`], for a test without a runtime of its own.
pub fn heavy_blocking() -> RwLockWriteGuard<'static, ()> {
    MACHINE.blocking_write()
}

/// Held while a run of the harness is timed or bounded; such runs go on side by side. Never
/// held by a test that holds it already (a [`heavy`] test waiting in between would deadlock).
pub async fn timed() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// [`timed`], for a test without a runtime of its own.
pub fn timed_blocking() -> RwLockReadGuard<'static, ()> {
    MACHINE.blocking_read()
}
