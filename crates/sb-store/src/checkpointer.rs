//! Copying the write-ahead log back into the database on a thread of its own.
//!
//! SQLite copies the log back (a checkpoint) on the connection whose commit filled it:
//! the event-log writer, which then stalls for the copy and a sync of the database file
//! with every append behind it waiting. Here the writer only counts the log's pages
//! after each commit and, every [`PAGES_PER_CHECKPOINT`], pokes a second connection that
//! copies them without blocking the writer (a passive checkpoint). The writer copies
//! itself only when the log outgrows [`PAGES_BEFORE_THE_WRITER_COPIES`] — when commits
//! never leave a moment in which the log can start over.

use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::StoreError;

/// Log pages (4 KiB) between two checkpoints, as SQLite's own default.
const PAGES_PER_CHECKPOINT: i32 = 1_000;
/// Log pages beyond which the writer copies them back itself (also the bound for the
/// store's other connections, which keep SQLite's checkpoint after commits).
pub(crate) const PAGES_BEFORE_THE_WRITER_COPIES: i32 = 10_000;

thread_local! {
    /// Pages in the log after the last commit on this thread's connection (SQLite's
    /// commit hook takes a plain function, so the count is kept per thread: each
    /// event-log writer has a thread of its own).
    static LOG_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn count_log_pages(_wal: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|p| p.set(pages));
    Ok(())
}

pub(crate) struct Checkpointer {
    poke: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Log pages when the checkpointer was last poked.
    poked_at: i32,
}

impl Checkpointer {
    /// Start the thread for `database`, and make `writer` count its log pages instead of
    /// copying them back itself. The writer commits on one thread only, where the count
    /// is kept.
    pub(crate) fn start(database: &Path, writer: &Connection) -> Result<Checkpointer, StoreError> {
        let connection = Connection::open(database)?;
        connection.busy_timeout(Duration::from_secs(1))?;
        let (poke, poked) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("checkpointer".into())
            .spawn(move || checkpoint_loop(&connection, &poked))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpointer: {e}")))?;
        // Replaces SQLite's own checkpoint after commits (which is also a commit hook).
        writer.wal_hook(Some(count_log_pages));
        Ok(Checkpointer {
            poke: Some(poke),
            thread: Some(thread),
            poked_at: 0,
        })
    }

    /// After a commit on the writer: poke the thread every [`PAGES_PER_CHECKPOINT`] new
    /// pages; copy here only when the log has outgrown its bound.
    pub(crate) fn committed(&mut self, writer: &Connection) {
        let pages = LOG_PAGES.with(Cell::get);
        if pages < self.poked_at {
            // The log started over.
            self.poked_at = 0;
        }
        if pages >= PAGES_BEFORE_THE_WRITER_COPIES {
            let _ = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            self.poked_at = 0;
        } else if pages - self.poked_at >= PAGES_PER_CHECKPOINT {
            if let Some(poke) = &self.poke {
                // Full: a checkpoint is due already.
                let _ = poke.try_send(());
            }
            self.poked_at = pages;
        }
    }
}

impl Drop for Checkpointer {
    /// Copies what is left and waits for the thread.
    fn drop(&mut self) {
        self.poke.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint_loop(connection: &Connection, poked: &Receiver<()>) {
    loop {
        let stopping = poked.recv().is_err();
        // One that cannot run now (the database busy) is made at the next poke; the
        // writer's bound keeps the log from growing meanwhile.
        let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if stopping {
            return;
        }
    }
}
