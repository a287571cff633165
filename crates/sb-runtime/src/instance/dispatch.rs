//! Every command the owner takes, in one exhaustive match: a command added to
//! [`Command`] and handled nowhere does not compile. Each arm only names the owner's
//! method that does the work and answers the caller; a socket that comes with a
//! command stays here, and the owner gets its endpoint's number.

use super::dispatcher::Sink;
use super::driver::Driver;
use super::output::EndpointId;
use super::{Command, RuntimeError};

impl Driver {
    pub(super) fn handle(&mut self, command: Command) {
        self.dispatch(command);
        self.collect();
    }

    fn dispatch(&mut self, command: Command) {
        let owner = &mut self.owner;
        match command {
            Command::StartChat { chat, reply } => {
                let result = owner.start_chat(chat);
                self.answer(reply, result);
            }
            Command::CreateTask { task, reply } => {
                let result = owner.create_task(task);
                self.answer(reply, result);
            }
            Command::AttachCustomer {
                contact,
                token,
                after,
                frames,
                reply,
            } => {
                // A transferred chat is found by any id of its chain.
                let contact = owner.chat_head(&contact).unwrap_or(contact);
                let result = owner.attach_customer(&contact, &token, after);
                if let Ok(session) = result {
                    self.open(EndpointId(session), Sink::Customer(frames));
                }
                self.answer(reply, result);
            }
            Command::Customer {
                contact,
                session,
                event,
                reply,
            } => {
                let contact = owner.chat_head(&contact).unwrap_or(contact);
                let result = owner.customer_event(&contact, session, event);
                self.answer(reply, result);
            }
            Command::DetachCustomer { contact, session } => {
                owner.detach_customer(&contact, session)
            }
            Command::FunctionDone {
                contact,
                epoch,
                result,
            } => owner.function_done(&contact, epoch, result),
            Command::LiveRecord { contact, reply } => {
                let result = owner.live_record(contact);
                self.answer(reply, result);
            }
            Command::Tick { reply } => {
                owner.fire_due();
                self.answer(reply, Ok(()));
            }
            Command::AttachAgent {
                user,
                frames,
                reply,
            } => {
                let result = owner.attach_agent(&user, true);
                if let Ok(session) = result {
                    let sink = Sink::Agent {
                        agent: user,
                        frames,
                    };
                    self.open(EndpointId(session), sink);
                }
                self.answer(reply, result);
            }
            Command::Agent {
                user,
                action,
                reply,
            } => {
                let result = owner.agent_action(&user, action);
                self.answer(reply, result);
            }
            Command::AgentDesk {
                user,
                action,
                reply,
            } => {
                let result = owner.agent_desk(&user, action);
                self.answer(reply, result);
            }
            Command::DetachAgent { user, session } => owner.detach_agent(&user, session),
            Command::ListAgents { reply } => {
                let agents = owner.list_agents();
                self.answer(reply, Ok(agents));
            }
            Command::ListContacts { reply } => {
                let contacts = owner.list_contacts();
                self.answer(reply, Ok(contacts));
            }
            Command::SetAgentStatus {
                agent,
                status,
                by,
                reply,
            } => {
                let result = owner.set_agent_status_for(&agent, &status, &by);
                self.answer(reply, result);
            }
            Command::StopContact { contact, by, reply } => {
                let result = owner.stop_contact(&contact, &by);
                self.answer(reply, result);
            }
            Command::Explain { contact, reply } => {
                let result = owner
                    .engine
                    .explain_contact(&contact)
                    .ok_or(RuntimeError::UnknownContact(contact));
                self.answer(reply, result);
            }
        }
    }
}
