//! A supervisor stops contacts (Connect's StopContact): wherever a contact is, it ends,
//! its record says API, and nobody is left holding it — including a contact whose agent
//! was removed from the configuration while the server was down.

use sb_runtime::instance::{
    AgentFrame, ContactStopped, CustomerFrame, NewChat, NewTask, RuntimeError,
};

use crate::harness::*;

fn stopped(contact: &str, was: &str, now: &str) -> ContactStopped {
    ContactStopped {
        contact_id: contact.into(),
        was: was.into(),
        now: now.into(),
    }
}

async fn stop(instance: &Instance, contact: &str) -> Result<ContactStopped, RuntimeError> {
    instance
        .rt()
        .stop_contact(contact.into(), "dana".into())
        .await
}

/// The contacts routing has `agent` holding.
async fn held_by(instance: &Instance, agent: &str) -> Vec<String> {
    let agents = instance.rt().list_agents().await.unwrap();
    agents
        .into_iter()
        .find(|a| a.agent == agent)
        .map(|a| a.contacts.into_iter().map(|c| c.contact).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_supervisor_stops_a_contact_wherever_it_is() {
    let instance = Instance::start(steady_acme(120)).await;

    // In the menu.
    let (mut in_menu, _) = instance
        .chat_at_menu(NewChat {
            display_name: "Ana".into(),
            ..Default::default()
        })
        .await;
    let ended = stop(&instance, &in_menu.contact).await.unwrap();
    assert_eq!(ended, stopped(&in_menu.contact, "in_flow", "ended"));
    next_frame(&mut in_menu.frames, |f| *f == CustomerFrame::Ended).await;
    let record = instance
        .record(&in_menu.contact, |r| r["DisconnectReason"] == "API")
        .await;
    assert!(record["DisconnectTimestamp"].is_string(), "{record}");
    // Once ended it is no longer live: a second stop is refused and changes nothing.
    assert!(matches!(
        stop(&instance, &in_menu.contact).await,
        Err(RuntimeError::UnknownContact(_))
    ));

    // Scheduled for tomorrow.
    let tomorrow = jiff::Timestamp::from_millisecond(instance.clock.now_ms() + 86_400_000)
        .unwrap()
        .to_string();
    let task = instance
        .rt()
        .create_task(NewTask {
            name: "Call back about order A-1001".into(),
            scheduled_at: Some(tomorrow),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        stop(&instance, &task).await.unwrap(),
        stopped(&task, "scheduled", "ended")
    );
    instance
        .record(&task, |r| r["DisconnectReason"] == "API")
        .await;

    // In line, and offered: the offer is withdrawn from carol, who is free again.
    let mut waiting = instance.chat_to_billing("Ben").await;
    assert_eq!(
        stop(&instance, &waiting.contact).await.unwrap(),
        stopped(&waiting.contact, "queued", "ended")
    );
    next_frame(&mut waiting.frames, |f| *f == CustomerFrame::Ended).await;
    let offered = instance.chat_to_billing("Cy").await;
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    assert_eq!(offers(&mut carol, 1).await, vec![offered.contact.clone()]);
    assert_eq!(
        stop(&instance, &offered.contact).await.unwrap(),
        stopped(&offered.contact, "offered", "ended")
    );
    next_frame(
        &mut carol.frames,
        |f| matches!(f, AgentFrame::ContactEnded { contact } if *contact == offered.contact),
    )
    .await;
    assert!(held_by(&instance, "carol").await.is_empty());

    // With carol: the chat ends for the customer and she does its after-contact work;
    // stopped again, the work is completed for her and she holds nothing.
    // Carol is available, so the chat goes straight from the menu to her.
    let (mut talking, _) = instance
        .chat_at_menu(NewChat {
            display_name: "Dee".into(),
            ..Default::default()
        })
        .await;
    instance.say(&talking, "3").await.unwrap();
    let contact = offers(&mut carol, 1).await.remove(0);
    assert_eq!(contact, talking.contact);
    instance
        .act(
            &carol,
            sb_runtime::instance::AgentAction::Accept {
                contact: contact.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        stop(&instance, &contact).await.unwrap(),
        stopped(&contact, "connected", "after_contact_work")
    );
    next_frame(&mut talking.frames, |f| *f == CustomerFrame::Ended).await;
    next_frame(
        &mut carol.frames,
        |f| matches!(f, AgentFrame::ContactEnded { contact: c } if *c == contact),
    )
    .await;
    assert_eq!(held_by(&instance, "carol").await, vec![contact.clone()]);
    let record = instance
        .record(&contact, |r| r["DisconnectReason"] == "API")
        .await;
    assert!(
        record["Agent"]["AfterContactWorkEndTimestamp"].is_null(),
        "{record}"
    );

    assert_eq!(
        stop(&instance, &contact).await.unwrap(),
        stopped(&contact, "after_contact_work", "ended")
    );
    assert!(held_by(&instance, "carol").await.is_empty());
    let record = instance
        .record(&contact, |r| {
            r["Agent"]["AfterContactWorkEndTimestamp"].is_string()
        })
        .await;
    assert_eq!(record["Agent"]["Username"], "carol", "{record}");
    assert!(instance.stage(&contact).await.is_none());
}

#[tokio::test]
async fn a_contact_whose_agent_left_the_configuration_is_stopped_for_good() {
    let mut instance = Instance::start(steady_acme(120)).await;
    let talking = instance.chat_to_billing("Ana").await;
    let _carol = instance.agent_on_next_chat("carol").await;
    instance.wait_for_stage(&talking.contact, "connected").await;

    // Carol leaves the company while the server is down: the new version has no carol.
    let mut without_carol = steady_acme(120);
    let users = without_carol.text("users.yaml").unwrap();
    let (before, rest) = users.split_once("  - username: carol").unwrap();
    let (_, after) = rest.split_once("  - username: dana").unwrap();
    without_carol
        .insert(
            "users.yaml".into(),
            format!("{before}  - username: dana{after}").into_bytes(),
        )
        .unwrap();
    instance.restart_with(&without_carol).await;

    // The chat is still hers, and nobody in routing could ever finish it.
    assert_eq!(
        instance.stage(&talking.contact).await.unwrap().0,
        "connected"
    );
    let stopped_now = stop(&instance, &talking.contact).await.unwrap();
    assert_eq!(stopped_now, stopped(&talking.contact, "connected", "ended"));
    let record = instance
        .record(&talking.contact, |r| {
            r["DisconnectReason"] == "API" && r["Agent"]["AfterContactWorkEndTimestamp"].is_string()
        })
        .await;
    assert_eq!(record["Agent"]["Username"], "carol", "{record}");

    // And it stays ended across a restart.
    instance.restart().await;
    assert!(instance.stage(&talking.contact).await.is_none());
}

#[tokio::test]
async fn a_supervisor_sets_an_agents_status_as_if_the_agent_had() {
    use sb_routing::AgentStatus;
    let instance = Instance::start(steady_acme(120)).await;
    let rt = instance.rt();
    let waiting = instance.chat_to_billing("Ana").await;
    let mut carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    assert_eq!(offers(&mut carol, 1).await, vec![waiting.contact.clone()]);

    // Carol walked away: a supervisor puts her on a break. The offer goes back in line
    // and her desktop hears of it.
    let snapshot = rt
        .set_agent_status("carol".into(), "Break".into(), "dana".into())
        .await
        .unwrap();
    assert_eq!(snapshot.status, AgentStatus::Custom("Break".into()));
    instance.wait_for_stage(&waiting.contact, "queued").await;
    next_frame(&mut carol.frames, |f| {
        matches!(f, AgentFrame::State { snapshot } if snapshot.status == AgentStatus::Custom("Break".into()))
    })
    .await;

    // Back to Available on her behalf; then, during a chat, Offline waits for the chat.
    rt.set_agent_status("carol".into(), "Available".into(), "dana".into())
        .await
        .unwrap();
    let contact = offers(&mut carol, 1).await.remove(0);
    instance
        .act(
            &carol,
            sb_runtime::instance::AgentAction::Accept { contact },
        )
        .await
        .unwrap();
    let snapshot = rt
        .set_agent_status("carol".into(), "Offline".into(), "dana".into())
        .await
        .unwrap();
    assert_eq!(snapshot.status, AgentStatus::available(), "{snapshot:?}");
    assert_eq!(
        snapshot.next_status,
        Some(AgentStatus::Offline),
        "{snapshot:?}"
    );

    // A status that does not exist, or an agent who is not logged in: refused, and
    // carol's state is as it was.
    assert!(matches!(
        rt.set_agent_status("carol".into(), "Lunchtime".into(), "dana".into())
            .await,
        Err(RuntimeError::UnknownStatus(_))
    ));
    assert!(matches!(
        rt.set_agent_status("alice".into(), "Available".into(), "dana".into())
            .await,
        Err(RuntimeError::NotLoggedIn(_))
    ));
    let agents = rt.list_agents().await.unwrap();
    let carol_now = agents.iter().find(|a| a.agent == "carol").unwrap();
    assert_eq!(carol_now.next_status, Some(AgentStatus::Offline));
}

/// Newcomer review D19: an agent whose desktop is gone cannot be made Available by a
/// supervisor (offers would go to nobody); nobody by that name is a different answer.
#[tokio::test]
async fn a_supervisor_cannot_route_work_to_an_agent_who_is_gone() {
    let instance = Instance::start(steady_acme(120)).await;
    let rt = instance.rt();
    let carol = instance.agent("carol").await;
    instance.act(&carol, status("Available")).await.unwrap();
    rt.detach_agent(carol.user.clone(), carol.session).await;
    assert!(matches!(
        rt.set_agent_status("carol".into(), "Available".into(), "dana".into())
            .await,
        Err(RuntimeError::NotLoggedIn(_))
    ));
    assert!(matches!(
        rt.set_agent_status("zed".into(), "Available".into(), "dana".into())
            .await,
        Err(RuntimeError::UnknownAgent(_))
    ));
    let waiting = instance.chat_to_billing("Ana").await;
    assert_eq!(
        instance
            .stage(&waiting.contact)
            .await
            .map(|s| s.0)
            .as_deref(),
        Some("queued")
    );
}
