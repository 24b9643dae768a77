//! BGP messages built by hand, byte by byte, for tests that must send what no encoder would:
//! the misbehaving-peer table (`misbehaving_peer.rs`) and its wire-level twin
//! (`speaker/tests/bgp_misbehaving_peer.rs`, which includes this file by path).
// Each of the two test crates uses a part of these.
#![allow(dead_code)]

/// The peer's AS in these messages.
pub(crate) const PEER_AS: u32 = 64500;

/// A whole message: marker, length, type, body. The length is what the header says.
pub(crate) fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).unwrap_or(u16::MAX);
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

/// A capability: code, length, value.
pub(crate) fn cap(code: u8, value: &[u8]) -> Vec<u8> {
    let mut c = vec![code, u8::try_from(value.len()).unwrap_or(u8::MAX)];
    c.extend_from_slice(value);
    c
}

/// The peer's usual capabilities: IPv4 and IPv6 unicast, 4-octet AS.
pub(crate) fn usual_caps() -> Vec<u8> {
    [
        cap(1, &[0, 1, 0, 1]),
        cap(1, &[0, 2, 0, 1]),
        cap(65, &PEER_AS.to_be_bytes()),
    ]
    .concat()
}

/// An OPEN body with these fields and optional parameters.
pub(crate) fn open_body(version: u8, hold: u16, params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&u16::try_from(PEER_AS).unwrap_or(23456).to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&[192, 0, 2, 1]);
    b.push(u8::try_from(params.len()).unwrap_or(u8::MAX));
    b.extend_from_slice(params);
    b
}

/// Optional parameter 2 (capabilities) holding `caps`.
pub(crate) fn caps_param(caps: &[u8]) -> Vec<u8> {
    let mut p = vec![2, u8::try_from(caps.len()).unwrap_or(u8::MAX)];
    p.extend_from_slice(caps);
    p
}

pub(crate) fn open(version: u8, hold: u16, params: &[u8]) -> Vec<u8> {
    message(1, &open_body(version, hold, params))
}

pub(crate) fn good_open() -> Vec<u8> {
    open(4, 90, &caps_param(&usual_caps()))
}

/// A path attribute with a one-octet length.
pub(crate) fn attr(flags: u8, ty: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, ty, u8::try_from(value.len()).unwrap_or(u8::MAX)];
    a.extend_from_slice(value);
    a
}

pub(crate) fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}

/// AS_PATH: one AS_SEQUENCE of the peer's AS (4-octet, as negotiated).
pub(crate) fn as_path() -> Vec<u8> {
    let mut v = vec![2, 1];
    v.extend_from_slice(&PEER_AS.to_be_bytes());
    attr(0x40, 2, &v)
}

pub(crate) fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[192, 0, 2, 1])
}

/// An UPDATE body: no withdrawn routes, these attributes, this NLRI.
pub(crate) fn update_body(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap_or(u16::MAX).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

pub(crate) fn update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    message(2, &update_body(attrs, nlri))
}

/// 198.51.100.0/24.
pub(crate) const NLRI: [u8; 4] = [24, 198, 51, 100];

pub(crate) fn good_attrs() -> Vec<u8> {
    [origin(), as_path(), next_hop()].concat()
}

/// MP_REACH_NLRI for IPv6 unicast with a global next hop and `nlri`.
pub(crate) fn mp_reach_v6(nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.push(0);
    v.extend_from_slice(nlri);
    attr(0x80, 14, &v)
}

/// 2001:db8:1::/48.
pub(crate) const NLRI6: [u8; 7] = [48, 0x20, 0x01, 0x0d, 0xb8, 0, 1];
