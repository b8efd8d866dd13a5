//! The table's fixed part as typed objects: its sets, chains and rules. `nft list table`
//! prints it as in berth-net.md:
//!
//! ```text
//! prerouting, output:  fib daddr type local jump ports
//! ports:               dnat ip to ip daddr . tcp dport map @tcp_ip
//!                      dnat ip to tcp dport map @tcp_any          (and udp)
//! postrouting:         ip saddr @masq oifname != @bridges masquerade
//!                      oifname @bridges ct status dnat ip saddr @nets masquerade
//!                      oifname @bridges ip saddr 127.0.0.0/8 masquerade
//! forward:             iifname @bridges oifname @bridges iifname . oifname != @same drop
//!                      iifname @internal iifname . oifname != @same drop
//!                      oifname @internal iifname . oifname != @same drop
//! ```

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Map, Meta, MetaKey, NamedExpression, Payload,
    PayloadField, Prefix, CT,
};
use nftables::schema::{
    Chain, FlushObject, NfCmd, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

pub const PROTOS: [&str; 2] = ["tcp", "udp"];

/// The four DNAT maps as nft text: `<proto>_any` (host port → container address . port)
/// and `<proto>_ip` (host address . host port → the same). They stay text because the nft
/// of Debian 12 (1.0.6), like every nft before upstream's "json: Support maps with
/// concatenated data" (March 2024), cannot make them from JSON: its parser takes a map's
/// data type ("map") only as one type name, refuses "ipv4_addr . inet_service", and
/// silently makes a plain set of the array the crate writes; the crate (0.6.3) has no raw
/// statement to fall back on inside a batch. `add` is idempotent, so this runs before
/// every skeleton batch, which refers to the maps.
pub fn port_maps(table: &str) -> String {
    let t = format!("ip {table}");
    let mut s = format!("add table {t}\n");
    for proto in PROTOS {
        s += &format!(
            "add map {t} {proto}_any {{ type inet_service : ipv4_addr . inet_service; }}\n"
        );
        s += &format!("add map {t} {proto}_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; }}\n");
    }
    s
}

/// Idempotent `add`s of the table, its sets and chains, then the rules re-made in the
/// same transaction (flushing a chain keeps the sets' and maps' elements).
pub fn batch(table: &str) -> Batch<'static> {
    let mut b = Batch::new();
    b.add(NfListObject::Table(Table {
        family: NfFamily::IP,
        name: owned(table),
        handle: None,
    }));
    let ifname = SetTypeValue::Single(SetType::Ifname);
    let ipv4 = SetTypeValue::Single(SetType::Ipv4Addr);
    let ifname_pair = SetTypeValue::Concatenated(vec![SetType::Ifname, SetType::Ifname].into());
    b.add(set(table, "bridges", ifname.clone(), false));
    b.add(set(table, "same", ifname_pair, false));
    b.add(set(table, "internal", ifname, false));
    b.add(set(table, "nets", ipv4.clone(), true));
    b.add(set(table, "masq", ipv4, true));
    let chains = chains(table);
    for c in &chains {
        b.add(NfListObject::Chain(c.clone()));
    }
    for c in chains {
        b.add_cmd(NfCmd::Flush(FlushObject::Chain(c)));
    }
    for (chain, stmts) in rules() {
        b.add(NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: owned(table),
            chain: chain.into(),
            expr: stmts.into(),
            handle: None,
            index: None,
            comment: None,
        }));
    }
    b
}

fn owned(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_string())
}

fn set(
    table: &str,
    name: &'static str,
    set_type: SetTypeValue<'static>,
    interval: bool,
) -> NfListObject<'static> {
    NfListObject::Set(Box::new(Set {
        family: NfFamily::IP,
        table: owned(table),
        name: name.into(),
        handle: None,
        set_type,
        policy: None,
        flags: interval.then(|| HashSet::from([SetFlag::Interval])),
        elem: None,
        timeout: None,
        gc_interval: None,
        size: None,
        comment: None,
    }))
}

/// The base chains at the priorities nft names dstnat (-100), srcnat (100) and filter (0),
/// and the regular chain `ports`.
fn chains(table: &str) -> Vec<Chain<'static>> {
    let chain = |name: &'static str, hook: Option<(NfChainType, NfHook, i32)>| Chain {
        family: NfFamily::IP,
        table: owned(table),
        name: name.into(),
        newname: None,
        handle: None,
        _type: hook.map(|h| h.0),
        hook: hook.map(|h| h.1),
        prio: hook.map(|h| h.2),
        dev: None,
        policy: hook.map(|_| NfChainPolicy::Accept),
    };
    use NfChainType::{Filter, NAT};
    vec![
        chain("prerouting", Some((NAT, NfHook::Prerouting, -100))),
        chain("output", Some((NAT, NfHook::Output, -100))),
        chain("postrouting", Some((NAT, NfHook::Postrouting, 100))),
        chain("forward", Some((Filter, NfHook::Forward, 0))),
        chain("ports", None),
    ]
}

/// Every rule, by chain, in order.
fn rules() -> Vec<(&'static str, Vec<Statement<'static>>)> {
    let mut out = Vec::new();
    // Published ports: traffic to any local address, from outside or from the host.
    for chain in ["prerouting", "output"] {
        let local = Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        };
        out.push((
            chain,
            vec![
                is(named(NamedExpression::Fib(local)), "local"),
                Statement::Jump(JumpTarget {
                    target: "ports".into(),
                }),
            ],
        ));
    }
    for proto in PROTOS {
        let by_ip = named(NamedExpression::Concat(vec![
            payload("ip", "daddr"),
            payload(proto, "dport"),
        ]));
        out.push(("ports", vec![dnat(by_ip, format!("@{proto}_ip"))]));
        out.push((
            "ports",
            vec![dnat(payload(proto, "dport"), format!("@{proto}_any"))],
        ));
    }
    // Outbound NAT for non-internal networks.
    out.push((
        "postrouting",
        vec![
            is(payload("ip", "saddr"), "@masq"),
            is_not(meta(MetaKey::Oifname), "@bridges"),
            Statement::Masquerade(None),
        ],
    ));
    // Hairpin: a container reaching a published port of its own network, and the host
    // reaching one over 127.0.0.1, must see replies come from where it sent to.
    let ct_status = named(NamedExpression::CT(CT {
        key: "status".into(),
        family: None,
        dir: None,
    }));
    out.push((
        "postrouting",
        vec![
            is(meta(MetaKey::Oifname), "@bridges"),
            matches(ct_status, Operator::IN, text("dnat")),
            is(payload("ip", "saddr"), "@nets"),
            Statement::Masquerade(None),
        ],
    ));
    let loopback = named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text("127.0.0.0")),
        len: 8,
    }));
    out.push((
        "postrouting",
        vec![
            is(meta(MetaKey::Oifname), "@bridges"),
            matches(payload("ip", "saddr"), Operator::EQ, loopback),
            Statement::Masquerade(None),
        ],
    ));
    // Isolation: nothing crosses from one berth network to another; internal networks
    // talk to nothing but themselves.
    let pair = || {
        named(NamedExpression::Concat(vec![
            meta(MetaKey::Iifname),
            meta(MetaKey::Oifname),
        ]))
    };
    let drop = || Statement::Drop(None);
    out.push((
        "forward",
        vec![
            is(meta(MetaKey::Iifname), "@bridges"),
            is(meta(MetaKey::Oifname), "@bridges"),
            is_not(pair(), "@same"),
            drop(),
        ],
    ));
    for key in [MetaKey::Iifname, MetaKey::Oifname] {
        out.push((
            "forward",
            vec![is(meta(key), "@internal"), is_not(pair(), "@same"), drop()],
        ));
    }
    out
}

fn text(s: &'static str) -> Expression<'static> {
    Expression::String(s.into())
}

fn named(e: NamedExpression<'static>) -> Expression<'static> {
    Expression::Named(e)
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    named(NamedExpression::Meta(Meta { key }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// `left == right`; a right side of `@name` is a lookup in that set.
fn is(left: Expression<'static>, right: &'static str) -> Statement<'static> {
    matches(left, Operator::EQ, text(right))
}

fn is_not(left: Expression<'static>, right: &'static str) -> Statement<'static> {
    matches(left, Operator::NEQ, text(right))
}

/// `dnat ip to KEY map @MAP`: the map gives address and port together.
fn dnat(key: Expression<'static>, map: String) -> Statement<'static> {
    let lookup = named(NamedExpression::Map(Box::new(Map {
        key,
        data: Expression::String(map.into()),
    })));
    Statement::DNAT(Some(NAT {
        addr: Some(lookup),
        family: Some(NATFamily::IP),
        port: None,
        flags: None,
    }))
}
