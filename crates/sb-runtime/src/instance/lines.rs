//! Queues from the contact's side: joining one (with its routing options), moving to
//! another from a queue flow, and telling waiting chat customers where they stand.

use std::collections::BTreeSet;

use sb_flow::interpret::ContactData;
use sb_model::record::QueueInfo;
use sb_model::Channel;
use sb_routing::EnqueueOptions;
use serde_json::json;

use super::contacts::Stage;
use super::{rfc3339, CustomerFrame, Owner};

/// Position updates to waiting customers go out at most this often.
const POSITION_PERIOD_MS: i64 = 1_000;

/// How a contact enters a queue: its priority, its time adjustment, the time it already
/// spent in line (`waited_ms`, for a contact coming back after a restart), the flow's
/// routing criteria (criteria Switchboard cannot evaluate are logged and the contact is
/// routed without them), and for a callback when it is due and how many calls are left.
pub(crate) fn enqueue_options(
    id: &str,
    data: &ContactData,
    callback: Option<&super::callbacks::CallbackState>,
    waited_ms: i64,
) -> EnqueueOptions {
    let criteria = match data
        .routing_criteria
        .as_ref()
        .map(super::criteria::from_connect)
    {
        Some(Ok(criteria)) => Some(criteria),
        Some(Err(e)) => {
            tracing::warn!(contact = id, error = %e, "routing criteria ignored");
            None
        }
        None => None,
    };
    EnqueueOptions {
        priority: Some(data.queue_priority),
        time_adjustment_seconds: data.queue_time_adjustment_seconds,
        criteria,
        not_before: callback.map(|c| c.not_before),
        callback: callback.map(|c| c.policy()),
        waited_ms,
    }
}

/// The owner's part that knows which queues' lines moved, and when their waiting chat
/// customers may next hear where they stand: at most once a second, since a long line
/// must not be walked on every batch.
#[derive(Debug, Default)]
pub(crate) struct LinesMoved {
    queues: BTreeSet<String>,
    due: i64,
}

impl LinesMoved {
    pub(crate) fn moved(&mut self, queue: impl Into<String>) {
        self.queues.insert(queue.into());
    }

    /// The queues to tell now, if it is time.
    fn take_due(&mut self, now: i64) -> Option<BTreeSet<String>> {
        if self.queues.is_empty() || now < self.due {
            return None;
        }
        self.due = now + POSITION_PERIOD_MS;
        Some(std::mem::take(&mut self.queues))
    }

    /// When positions held back by the once-a-second limit go out.
    pub(crate) fn deadline(&self) -> Option<i64> {
        (!self.queues.is_empty()).then_some(self.due)
    }
}

impl Owner {
    /// Tell each chat customer waiting in a queue that moved where they stand now.
    pub(crate) fn push_positions(&mut self) {
        let Some(queues) = self.moved.take_due(self.now) else {
            return;
        };
        for queue in queues {
            let mut tell = Vec::new();
            let contacts = &mut self.contacts;
            self.engine
                .visit_line(&queue, Channel::Chat, |id, position| {
                    let Some(c) = contacts.get_mut(id) else {
                        return;
                    };
                    if c.told_position == Some(position.position) {
                        return;
                    }
                    if let Some(endpoint) = c.customer {
                        c.told_position = Some(position.position);
                        let frame = CustomerFrame::Position {
                            position: position.position,
                            estimated_wait_seconds: position.estimated_wait_ms.map(|ms| ms / 1000),
                        };
                        tell.push((endpoint, frame));
                    }
                });
            for (endpoint, frame) in tell {
                self.send_customer(endpoint, frame);
            }
        }
    }

    /// A queue flow's DequeueContactAndTransferToQueue: the waiting contact leaves its
    /// queue for `queue`, where it is a new arrival; its record names the new queue.
    pub(super) fn move_to_queue(&mut self, id: &str, queue: &str) -> bool {
        let Some(c) = self.contacts.get(id) else {
            return false;
        };
        let options = enqueue_options(id, &c.data, c.callback.as_ref(), 0);
        let from = c.record.queue.as_ref().map(|q| q.name.clone());
        let now = self.now;
        if let Err(e) = self.engine.move_to_queue(now, id, queue, options) {
            tracing::info!(contact = id, queue, error = %e, "move to another queue refused");
            return false;
        }
        self.moved.moved(queue);
        if let Some(from) = from {
            self.moved.moved(from);
        }
        self.touch(id);
        self.joined_line(id, queue, now);
        true
    }

    /// The contact joined `queue` at `now`: its record names the queue, and the
    /// QUEUED contact event says so.
    fn joined_line(&mut self, id: &str, queue: &str, now: i64) {
        if let Some(c) = self.contacts.get_mut(id) {
            c.record.queue = Some(QueueInfo {
                name: queue.to_string(),
                enqueue_timestamp: rfc3339(now),
                dequeue_timestamp: None,
                duration: None,
            });
        }
        self.contact_event(
            id,
            super::contact_events::ContactEventType::Queued,
            json!({"ContactId": id, "Queue": {"Name": queue}}),
        );
    }

    /// Put the contact in line: `queue` is a queue name, or `agent:NAME` for an agent queue.
    pub(crate) fn enqueue(&mut self, id: &str, queue: &str) -> bool {
        let Some(c) = self.contacts.get(id) else {
            return false;
        };
        let options = enqueue_options(id, &c.data, c.callback.as_ref(), 0);
        let now = self.now;
        let result = self.enter_line(id, queue, options);
        match result {
            Ok(()) => {
                self.moved.moved(queue);
                self.touch(id);
                self.arrivals += 1;
                let line_order = self.arrivals;
                let c = self.contacts.get_mut(id).expect("exists");
                c.line_order = line_order;
                c.stage = Stage::Queued;
                self.joined_line(id, queue, now);
                true
            }
            Err(e) => {
                tracing::info!(contact = id, queue, error = %e, "enqueue refused");
                false
            }
        }
    }

    /// Routing's side of putting a contact in line (an agent queue is the agent's own
    /// line, drawn from its routing profile's default outbound queue).
    pub(crate) fn enter_line(
        &mut self,
        id: &str,
        queue: &str,
        options: sb_routing::EnqueueOptions,
    ) -> Result<(), sb_routing::RoutingError> {
        let Some(c) = self.contacts.get(id) else {
            return Err(sb_routing::RoutingError::UnknownContact(id.into()));
        };
        let channel = c.data.channel;
        let now = self.now;
        match queue.strip_prefix("agent:") {
            Some(agent) => {
                let unknown = || sb_routing::RoutingError::UnknownAgent(agent.into());
                let home =
                    super::transfer::agent_home_queue(&c.config.spec, agent).ok_or_else(unknown)?;
                // An agent's queue takes contacts whether or not the agent is logged in.
                self.enter_routing(agent).map_err(|_| unknown())?;
                self.engine
                    .enqueue_for_agent(now, id, agent, &home, channel, options)
            }
            None => self.engine.enqueue(now, id, queue, channel, options),
        }
    }
}
