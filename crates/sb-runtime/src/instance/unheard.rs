//! Chats that ended before their customer's socket was open: a flow that answers "we
//! are closed" and disconnects ends the chat in the moment it starts, before the
//! customer has connected. Such a chat's transcript is kept a little while, so that the
//! customer who connects with the chat's token still hears everything the flow said,
//! then the end — instead of "unknown contact".

use std::collections::{BTreeMap, VecDeque};

use super::{ChatItem, RuntimeError};

/// How long an ended chat waits for its customer.
const KEEP_MS: i64 = 60_000;
/// The most kept at once (the oldest go first): a burst of abandoned chats cannot
/// hold much memory.
const MOST: usize = 10_000;

struct Unheard {
    token_sha256: String,
    transcript: Vec<ChatItem>,
}

#[derive(Default)]
pub(crate) struct UnheardEndings {
    chats: BTreeMap<String, Unheard>,
    /// (ended at, contact) oldest first.
    order: VecDeque<(i64, String)>,
}

impl UnheardEndings {
    /// Keep the transcript of chat `id`, ended at `now` with no customer connected.
    pub(crate) fn keep(
        &mut self,
        now: i64,
        id: &str,
        token_sha256: &str,
        transcript: Vec<ChatItem>,
    ) {
        self.expire(now);
        while self.order.len() >= MOST {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.chats.remove(&oldest);
            }
        }
        self.order.push_back((now, id.to_string()));
        self.chats.insert(
            id.to_string(),
            Unheard {
                token_sha256: token_sha256.to_string(),
                transcript,
            },
        );
    }

    /// The lines after `after` of ended chat `id` for its customer, once; `None` when
    /// no such chat waits.
    pub(crate) fn take(
        &mut self,
        now: i64,
        id: &str,
        token: &str,
        after: u64,
    ) -> Result<Option<Vec<ChatItem>>, RuntimeError> {
        self.expire(now);
        let Some(chat) = self.chats.get(id) else {
            return Ok(None);
        };
        if !sb_security::secret_matches(token, &chat.token_sha256) {
            return Err(RuntimeError::BadToken);
        }
        let chat = self.chats.remove(id).expect("found above");
        Ok(Some(
            chat.transcript
                .into_iter()
                .filter(|i| i.seq > after)
                .collect(),
        ))
    }

    fn expire(&mut self, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if now - at < KEEP_MS {
                break;
            }
            let (_, id) = self.order.pop_front().expect("front exists");
            self.chats.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> ChatItem {
        ChatItem {
            seq,
            from: crate::instance::ChatSender::System,
            name: None,
            text: format!("line {seq}"),
            at: String::new(),
        }
    }

    #[test]
    fn an_ended_chat_is_heard_once_with_its_token_within_a_minute() {
        let (token, sha) = sb_security::issue_secret().unwrap();
        let token = token.as_str();
        let mut unheard = UnheardEndings::default();
        unheard.keep(0, "c1", &sha, vec![line(1), line(2)]);
        assert!(matches!(
            unheard.take(10, "c1", "wrong", 0),
            Err(RuntimeError::BadToken)
        ));
        let lines = unheard.take(10, "c1", token, 1).unwrap().unwrap();
        assert_eq!(lines, vec![line(2)]);
        assert!(unheard.take(10, "c1", token, 0).unwrap().is_none(), "once");
        unheard.keep(0, "c2", &sha, vec![line(1)]);
        assert!(
            unheard.take(KEEP_MS, "c2", token, 0).unwrap().is_none(),
            "expired"
        );
    }
}
