//! LwM2M over DTLS 1.2 with pre-shared keys: SEAM's client and server, and libcoap's
//! `coap-client-openssl` as an independent DTLS peer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seam_lwm2m::client::{ClientConfig, DeviceProfile, Lwm2mClient};
use seam_lwm2m::coap::TransmissionParams;
use seam_lwm2m::dtls::Psk;
use seam_lwm2m::server::{Credentials, Delivery, DeliveryMethod, Listen, Lwm2mServer, ServerConfig, ServerEvent};
use tokio::sync::mpsc::UnboundedReceiver;

/// identity → (endpoint, key)
struct Provisioned(HashMap<String, (String, Vec<u8>)>);

impl Credentials for Provisioned {
    fn key(&self, identity: &[u8]) -> Option<Vec<u8>> {
        let identity = std::str::from_utf8(identity).ok()?;
        self.0.get(identity).map(|(_, key)| key.clone())
    }

    fn endpoint_of(&self, identity: &str) -> Option<String> {
        self.0.get(identity).map(|(endpoint, _)| endpoint.clone())
    }

    fn is_provisioned(&self, endpoint: &str) -> bool {
        self.0.values().any(|(e, _)| e == endpoint)
    }
}

const KEY: &[u8] = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";

fn fast() -> TransmissionParams {
    TransmissionParams::fast(Duration::from_millis(100))
}

async fn secure_server() -> (Lwm2mServer, UnboundedReceiver<ServerEvent>) {
    let credentials = Provisioned(HashMap::from([
        ("id-sensor-1".to_owned(), ("sensor-1".to_owned(), KEY.to_vec())),
        ("id-sensor-2".to_owned(), ("sensor-2".to_owned(), KEY.to_vec())),
    ]));
    let config = ServerConfig {
        params: fast(),
        delivery_timeout: Duration::from_secs(60),
        state_poll: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let loopback = "127.0.0.1:0".parse().unwrap();
    Lwm2mServer::listen(
        Listen {
            plain: Some(loopback),
            secure: Some((loopback, Arc::new(credentials))),
        },
        config,
    )
    .await
    .unwrap()
}

fn config(server: std::net::SocketAddr, name: &str, psk: Option<(&str, &[u8])>) -> ClientConfig {
    let mut profile = DeviceProfile::new("STMicroelectronics", "B-L475E-IOT01A", "L475-000318");
    profile.memory_free_kib = 88;
    let mut config = ClientConfig::new(name, server, profile);
    config.params = fast();
    config.psk = psk.map(|(identity, key)| Psk {
        identity: identity.to_owned(),
        key: key.to_vec(),
    });
    config
}

async fn registered(events: &mut UnboundedReceiver<ServerEvent>) -> seam_lwm2m::server::Registration {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let ServerEvent::Registered(r) = event {
            return r;
        }
    }
}

#[tokio::test]
async fn a_client_with_its_key_registers_and_takes_a_package_over_dtls() {
    let (server, mut events) = secure_server().await;
    let secure = server.secure_addr().unwrap();
    let client = Lwm2mClient::start(config(secure, "sensor-1", Some(("id-sensor-1", KEY))))
        .await
        .unwrap();
    client.register().await.unwrap();
    let registration = registered(&mut events).await;
    assert_eq!(registration.endpoint, "sensor-1");
    assert_eq!(registration.identity.as_deref(), Some("id-sensor-1"));
    // The server reads the device through the same session, and delivers a package whose
    // URI is coaps://, fetched block-wise through it.
    let sha = server.shelf().put((0..50_000u32).map(|i| (i % 251) as u8).collect());
    assert!(server
        .package_uri_for("sensor-1", &sha)
        .unwrap()
        .starts_with("coaps://"));
    let outcome = server
        .deliver(&Delivery {
            endpoint: "sensor-1".into(),
            sha256: sha.clone(),
            method: DeliveryMethod::Pull,
        })
        .await
        .unwrap();
    assert!(outcome.installed, "{outcome:?}");
    assert_eq!(client.installed(), vec![sha]);
}

#[tokio::test]
async fn wrong_keys_identities_and_plain_coap_never_register() {
    let (server, mut events) = secure_server().await;
    let secure = server.secure_addr().unwrap();
    let plain = server.local_addr().unwrap();
    // A wrong key: the session never opens.
    let mut wrong = config(secure, "sensor-1", Some(("id-sensor-1", b"not the right key")));
    wrong.handshake_timeout = Duration::from_secs(3);
    assert!(Lwm2mClient::start(wrong).await.is_err());
    // An unknown identity: refused in the handshake.
    assert!(Lwm2mClient::start(config(secure, "sensor-1", Some(("id-nobody", KEY))))
        .await
        .is_err());
    // A good identity registering as another device: 4.03.
    let other = Lwm2mClient::start(config(secure, "sensor-1", Some(("id-sensor-2", KEY))))
        .await
        .unwrap();
    assert!(other.register().await.is_err());
    // A provisioned name over plain CoAP: 4.03.
    let spoof = Lwm2mClient::start(config(plain, "sensor-1", None)).await.unwrap();
    assert!(spoof.register().await.is_err());
    // A device without credentials still registers over plain CoAP.
    let open = Lwm2mClient::start(config(plain, "bench-7", None)).await.unwrap();
    open.register().await.unwrap();
    let registration = registered(&mut events).await;
    assert_eq!(registration.endpoint, "bench-7");
    assert!(registration.identity.is_none());
    assert!(server.registration("sensor-1").is_none());
    assert_eq!(server.registered(), 1);
}

/// libcoap's client from Debian, when it is installed (the test command installs it).
fn coap_client_openssl() -> Option<&'static str> {
    let path = "/usr/bin/coap-client-openssl";
    std::path::Path::new(path).exists().then_some(path)
}

#[tokio::test]
async fn libcoap_registers_over_dtls_with_the_right_key_only() {
    let Some(coap_client) = coap_client_openssl() else {
        if std::env::var_os("CI").is_some() {
            panic!("coap-client-openssl is missing: the test command installs libcoap3-bin");
        }
        eprintln!("skipped: coap-client-openssl is not installed");
        return;
    };
    // coap-client takes the key as text (-k), so this device's key is printable.
    let credentials = Provisioned(HashMap::from([(
        "id-sensor-2".to_owned(),
        ("sensor-2".to_owned(), b"sensor-2-psk-key".to_vec()),
    )]));
    let loopback = "127.0.0.1:0".parse().unwrap();
    let (server, mut events) = Lwm2mServer::listen(
        Listen {
            plain: None,
            secure: Some((loopback, Arc::new(credentials))),
        },
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let secure = server.secure_addr().unwrap();
    let register = |key: &'static str| async move {
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(coap_client)
                .args([
                    "-m",
                    "post",
                    "-u",
                    "id-sensor-2",
                    "-k",
                    key,
                    "-t",
                    "40",
                    "-e",
                    "</3/0>",
                    "-B",
                    "5",
                ])
                .arg(format!("coaps://{secure}/rd?ep=sensor-2&lt=60&lwm2m=1.1&b=U"))
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let said = register("wrong-psk-key-00").await;
    assert!(
        server.registration("sensor-2").is_none(),
        "a wrong key registered: {said}"
    );
    let said = register("sensor-2-psk-key").await;
    let registration = registered(&mut events).await;
    assert_eq!(registration.endpoint, "sensor-2", "{said}");
    assert_eq!(registration.identity.as_deref(), Some("id-sensor-2"));
}
