//! No effect before its cause is durable: when the log cannot commit a batch, nothing
//! that batch allowed leaves the process, and the caller hears of a server fault.

use sb_runtime::instance::{CustomerFrame, RuntimeError};

use crate::harness::*;

#[tokio::test]
async fn a_failed_commit_tells_the_customer_nothing_and_the_caller_of_a_server_fault() {
    let instance = Instance::start(steady_acme(0)).await;
    let mut customer = instance.chat_to_billing("Ana").await;
    // A trigger stands in for a disk that refuses the next write: the batch that ends
    // the chat (its DISCONNECTED event with it) cannot commit.
    let db = rusqlite::Connection::open(instance.dir.path().join(sb_store::DATABASE_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON events WHEN NEW.kind = 'DISCONNECTED'
         BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;",
    )
    .unwrap();
    let stopped = instance
        .rt()
        .stop_contact(customer.contact.clone(), "dana".into())
        .await;
    assert!(
        matches!(stopped, Err(RuntimeError::Internal(_))),
        "a server fault, not the caller's: {stopped:?}"
    );
    // A batch's effects are dispatched in order before its reply: by now, anything the
    // failed batch would have sent has been sent.
    while let Ok(frame) = customer.frames.try_recv() {
        assert_ne!(
            frame,
            CustomerFrame::Ended,
            "the customer was told the chat ended, though nothing of it was recorded"
        );
    }
}
