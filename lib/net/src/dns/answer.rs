//! What to do with one query, without any I/O: answer it from the network's names, forward
//! it, or drop it.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// Docker's TTL for container names.
pub(crate) const TTL: u32 = 600;
/// The largest reply over UDP without EDNS.
const PLAIN_UDP_MAX: usize = 512;
/// The largest UDP reply this server sends, whatever the client advertises.
const EDNS_UDP_MAX: u16 = 4096;
/// The largest message over TCP (the length prefix is 16 bits).
pub(crate) const TCP_MAX: usize = 65535;

#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The reply to send back.
    Reply(Vec<u8>),
    /// Not a name of the network: the query goes upstream as it is.
    Forward,
    /// Not a query, or not DNS at all.
    Drop(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Decides for one query; `lookup` gives the addresses of a name of the network (empty if
/// unknown).
pub(crate) fn answer(
    query: &[u8],
    transport: Transport,
    lookup: impl Fn(&str) -> Vec<Ipv4Addr>,
) -> Outcome {
    let request = match Message::from_vec(query) {
        Ok(m) => m,
        Err(e) => return Outcome::Drop(format!("malformed message: {e}")),
    };
    if request.message_type() != MessageType::Query {
        return Outcome::Drop("a response, not a query".into());
    }
    let [question] = request.queries() else {
        return Outcome::Forward;
    };
    if request.op_code() != OpCode::Query || question.query_class() != DNSClass::IN {
        return Outcome::Forward;
    }
    let ips = lookup(&plain_name(question.name()));
    if ips.is_empty() {
        return Outcome::Forward;
    }
    let mut reply = reply_to(&request, request.queries(), ResponseCode::NoError);
    if question.query_type() == RecordType::A {
        for ip in ips {
            reply.add_answer(Record::from_rdata(
                question.name().clone(),
                TTL,
                RData::A(A(ip)),
            ));
        }
    }
    let limit = match transport {
        Transport::Tcp => TCP_MAX,
        Transport::Udp => udp_limit(&request),
    };
    match encode_within(reply, limit) {
        Ok(bytes) => Outcome::Reply(bytes),
        Err(e) => Outcome::Drop(format!("cannot encode the reply: {e}")),
    }
}

/// A SERVFAIL reply to `query` (for a query that could not be forwarded), or None if it
/// is not a query.
pub(crate) fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.message_type() != MessageType::Query {
        return None;
    }
    reply_to(&request, request.queries(), ResponseCode::ServFail)
        .to_vec()
        .ok()
}

/// The ID of a message, without parsing it.
pub(crate) fn id_of(message: &[u8]) -> Option<[u8; 2]> {
    message.get(..2).map(|b| [b[0], b[1]])
}

/// Whether a reply has the truncated bit set.
pub(crate) fn is_truncated(reply: &[u8]) -> bool {
    reply.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// The name as the labels spell it, dot-separated, without escaping (container names are
/// plain ASCII; anything else never matches).
fn plain_name(name: &Name) -> String {
    let labels: Vec<String> = name
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    labels.join(".")
}

fn reply_to(request: &Message, questions: &[Query], code: ResponseCode) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_authoritative(false)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(request.checking_disabled())
        .set_response_code(code);
    reply.add_queries(questions.iter().cloned());
    if let Some(edns) = request.extensions() {
        let mut ours = Edns::new();
        ours.set_max_payload(edns.max_payload().clamp(PLAIN_UDP_MAX as u16, EDNS_UDP_MAX));
        reply.set_edns(ours);
    }
    reply
}

fn udp_limit(request: &Message) -> usize {
    match request.extensions() {
        Some(edns) => usize::from(edns.max_payload().clamp(PLAIN_UDP_MAX as u16, EDNS_UDP_MAX)),
        None => PLAIN_UDP_MAX,
    }
}

/// Encodes `reply`, dropping answers (and setting TC) until it fits in `limit` bytes.
fn encode_within(mut reply: Message, limit: usize) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    loop {
        let bytes = reply.to_vec()?;
        if bytes.len() <= limit || reply.answers().is_empty() {
            return Ok(bytes);
        }
        reply.answers_mut().pop();
        reply.set_truncated(true);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn query(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    pub(crate) fn a_records(reply: &Message) -> Vec<Ipv4Addr> {
        reply
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    fn lookup(name: &str) -> Vec<Ipv4Addr> {
        match name.to_ascii_lowercase().as_str() {
            "web" => vec![Ipv4Addr::new(10, 0, 0, 2)],
            "many" => (0..200).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect(),
            _ => vec![],
        }
    }

    fn reply(outcome: Outcome) -> Message {
        match outcome {
            Outcome::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn a_for_a_known_name() {
        let r = reply(answer(
            &query(7, "Web.", RecordType::A),
            Transport::Udp,
            lookup,
        ));
        assert_eq!(r.id(), 7);
        assert_eq!(r.message_type(), MessageType::Response);
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(!r.authoritative());
        assert!(r.recursion_available());
        assert!(r.recursion_desired());
        assert_eq!(a_records(&r), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(r.answers()[0].ttl(), TTL);
        assert_eq!(r.answers()[0].name().to_ascii(), "Web.");
        assert_eq!(r.queries().len(), 1);
    }

    #[test]
    fn aaaa_for_a_known_name_is_empty() {
        let r = reply(answer(
            &query(8, "web", RecordType::AAAA),
            Transport::Udp,
            lookup,
        ));
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.answers().is_empty());
    }

    #[test]
    fn unknown_names_and_other_classes_are_forwarded() {
        assert_eq!(
            answer(
                &query(9, "example.com", RecordType::A),
                Transport::Udp,
                lookup
            ),
            Outcome::Forward
        );
        let mut m = Message::from_vec(&query(9, "web", RecordType::A)).unwrap();
        m.queries_mut()[0].set_query_class(DNSClass::CH);
        assert_eq!(
            answer(&m.to_vec().unwrap(), Transport::Udp, lookup),
            Outcome::Forward
        );
    }

    #[test]
    fn garbage_and_responses_are_dropped() {
        assert!(matches!(
            answer(b"\x01\x02\x03", Transport::Udp, lookup),
            Outcome::Drop(_)
        ));
        assert!(matches!(
            answer(&[0xff; 40], Transport::Udp, lookup),
            Outcome::Drop(_)
        ));
        let r = match answer(&query(1, "web", RecordType::A), Transport::Udp, lookup) {
            Outcome::Reply(b) => b,
            _ => unreachable!(),
        };
        assert!(matches!(
            answer(&r, Transport::Udp, lookup),
            Outcome::Drop(_)
        ));
    }

    #[test]
    fn big_udp_replies_are_truncated_but_not_over_tcp() {
        let udp = match answer(&query(2, "many", RecordType::A), Transport::Udp, lookup) {
            Outcome::Reply(b) => b,
            _ => unreachable!(),
        };
        assert!(udp.len() <= PLAIN_UDP_MAX);
        assert!(is_truncated(&udp));
        let tcp = reply(answer(
            &query(2, "many", RecordType::A),
            Transport::Tcp,
            lookup,
        ));
        assert!(!tcp.truncated());
        assert_eq!(a_records(&tcp).len(), 200);
    }

    #[test]
    fn edns_queries_get_edns_replies_up_to_their_size() {
        let mut m = Message::from_vec(&query(3, "many", RecordType::A)).unwrap();
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        m.set_edns(edns);
        let bytes = match answer(&m.to_vec().unwrap(), Transport::Udp, lookup) {
            Outcome::Reply(b) => b,
            _ => unreachable!(),
        };
        assert!(bytes.len() <= 1232 && bytes.len() > PLAIN_UDP_MAX);
        let r = Message::from_vec(&bytes).unwrap();
        assert!(r.extensions().is_some());
        assert!(r.truncated());
    }

    #[test]
    fn servfail_keeps_id_and_question() {
        let bytes = servfail(&query(0x1234, "example.com", RecordType::A)).unwrap();
        let r = Message::from_vec(&bytes).unwrap();
        assert_eq!(r.id(), 0x1234);
        assert_eq!(r.response_code(), ResponseCode::ServFail);
        assert_eq!(r.queries()[0].name().to_ascii(), "example.com.");
        assert!(servfail(b"junk").is_none());
        assert_eq!(id_of(&bytes), Some([0x12, 0x34]));
    }
}
