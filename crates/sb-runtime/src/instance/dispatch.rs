//! Every command the owner takes, in one exhaustive match: a command added to
//! [`Command`] and handled nowhere does not compile. Each arm only names the method
//! that does the work and answers the caller.

use super::{Command, Owner, RuntimeError};

impl Owner {
    pub(crate) fn handle(&mut self, command: Command) {
        match command {
            Command::StartChat { chat, reply } => {
                let result = self.start_chat(chat);
                self.reply(reply, result);
            }
            Command::CreateTask { task, reply } => {
                let result = self.create_task(task);
                self.reply(reply, result);
            }
            Command::AttachCustomer {
                contact,
                token,
                after,
                frames,
                reply,
            } => {
                // A transferred chat is found by any id of its chain.
                let contact = self.chat_head(&contact).unwrap_or(contact);
                let result = self.attach_customer(&contact, &token, after, frames);
                self.reply(reply, result);
            }
            Command::Customer {
                contact,
                session,
                event,
                reply,
            } => {
                let contact = self.chat_head(&contact).unwrap_or(contact);
                let result = self.customer_event(&contact, session, event);
                self.reply(reply, result);
            }
            Command::DetachCustomer { contact, session } => self.detach_customer(&contact, session),
            Command::FunctionDone {
                contact,
                epoch,
                result,
            } => self.function_done(&contact, epoch, result),
            Command::LiveRecord { contact, reply } => {
                let result = self.live_record(contact);
                self.reply(reply, result);
            }
            Command::Tick { reply } => {
                self.fire_due();
                self.reply(reply, Ok(()));
            }
            Command::AttachAgent {
                user,
                frames,
                reply,
            } => {
                let result = self.attach_agent(&user, Some(frames));
                self.reply(reply, result);
            }
            Command::Agent {
                user,
                action,
                reply,
            } => {
                let result = self.agent_action(&user, action);
                self.reply(reply, result);
            }
            Command::AgentDesk {
                user,
                action,
                reply,
            } => {
                let result = self.agent_desk(&user, action);
                self.reply(reply, result);
            }
            Command::DetachAgent { user, session } => self.detach_agent(&user, session),
            Command::ListAgents { reply } => {
                let agents = self.list_agents();
                self.reply(reply, Ok(agents));
            }
            Command::ListContacts { reply } => {
                let contacts = self.list_contacts();
                self.reply(reply, Ok(contacts));
            }
            Command::SetAgentStatus {
                agent,
                status,
                by,
                reply,
            } => {
                let result = self.set_agent_status_for(&agent, &status, &by);
                self.reply(reply, result);
            }
            Command::StopContact { contact, by, reply } => {
                let result = self.stop_contact(&contact, &by);
                self.reply(reply, result);
            }
            Command::Explain { contact, reply } => {
                let result = self
                    .engine
                    .explain_contact(&contact)
                    .ok_or(RuntimeError::UnknownContact(contact));
                self.reply(reply, result);
            }
        }
    }
}
