//! The kernel-side filter of the responder's packet sockets: a classic BPF program that
//! passes only what [`super::is_candidate`] accepts (ARP, and ICMPv6 Neighbor Solicitations
//! and Advertisements carried directly in IPv6). Without it every frame on the LAN (gossip,
//! BGP, Service traffic) woke the receive thread to be dropped there; with it the kernel
//! drops them before they are queued. The program is data ([`PROGRAM`]), checked against
//! `is_candidate` here by a small interpreter of the few instructions it uses.
#![forbid(unsafe_code)]

use super::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6};

/// One classic BPF instruction: `(code, jump if true, jump if false, k)`.
pub type Instruction = (u16, u8, u8, u32);

/// `BPF_LD | BPF_H | BPF_ABS`: load the big-endian half-word at offset `k`.
const LD_HALF: u16 = 0x28;
/// `BPF_LD | BPF_B | BPF_ABS`: load the byte at offset `k`.
const LD_BYTE: u16 = 0x30;
/// `BPF_JMP | BPF_JEQ | BPF_K`: jump by `jt` if the accumulator equals `k`, else by `jf`.
const JEQ: u16 = 0x15;
/// `BPF_RET | BPF_K`: accept `k` bytes of the frame (0: drop it).
const RET: u16 = 0x06;

/// Bytes of an accepted frame passed on: all of any frame the LAN carries.
const SNAP: u32 = 0x0004_0000;

/// The filter: EtherType ARP, or IPv6 whose next header is ICMPv6 (58) of type 135 or 136.
pub const PROGRAM: [Instruction; 10] = [
    (LD_HALF, 0, 0, 12),
    (JEQ, 6, 0, ETHERTYPE_ARP as u32),  // ARP: accept
    (JEQ, 0, 6, ETHERTYPE_IPV6 as u32), // neither: drop
    (LD_BYTE, 0, 0, 20),
    (JEQ, 0, 4, 58), // not ICMPv6: drop
    (LD_BYTE, 0, 0, 54),
    (JEQ, 1, 0, 135),
    (JEQ, 0, 1, 136),
    (RET, 0, 0, SNAP),
    (RET, 0, 0, 0),
];

/// [`PROGRAM`] as the socket option takes it.
pub fn socket_filter() -> Vec<socket2::SockFilter> {
    PROGRAM
        .iter()
        .map(|&(code, jt, jf, k)| socket2::SockFilter::new(code, jt, jf, k))
        .collect()
}

/// A packet socket on every protocol (`ETH_P_ALL`, as pnet opens it) with [`PROGRAM`]
/// attached, for pnet to bind to an interface.
pub fn filtered_packet_socket() -> std::io::Result<socket2::Socket> {
    let all = i32::from((libc::ETH_P_ALL as u16).to_be());
    let socket = socket2::Socket::new(
        socket2::Domain::PACKET,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(all)),
    )?;
    socket.attach_filter(&socket_filter())?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the kernel does with `program` for `frame`: the bytes it passes (0: dropped).
    /// Only the instructions [`PROGRAM`] uses; a load past the end drops, as in the kernel.
    fn run(program: &[Instruction], frame: &[u8]) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let Some(&(code, jt, jf, k)) = program.get(pc) else {
                panic!("ran off the program at {pc}");
            };
            let at = k as usize;
            pc += 1;
            match code {
                LD_HALF => match frame.get(at..at + 2) {
                    Some(b) => acc = u32::from(u16::from_be_bytes([b[0], b[1]])),
                    None => return 0,
                },
                LD_BYTE => match frame.get(at) {
                    Some(b) => acc = u32::from(*b),
                    None => return 0,
                },
                JEQ => pc += usize::from(if acc == k { jt } else { jf }),
                RET => return k,
                other => panic!("instruction {other:#x} not interpreted"),
            }
        }
    }

    fn frame(ethertype: u16, next_header: u8, icmp_type: u8) -> Vec<u8> {
        let mut f = vec![0u8; 78];
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f[20] = next_header;
        f[54] = icmp_type;
        f
    }

    #[test]
    fn passes_arp_and_neighbour_discovery_only() {
        let cases = [
            (frame(ETHERTYPE_ARP, 0, 0), true, "ARP"),
            (
                frame(ETHERTYPE_IPV6, 58, 135),
                true,
                "Neighbor Solicitation",
            ),
            (
                frame(ETHERTYPE_IPV6, 58, 136),
                true,
                "Neighbor Advertisement",
            ),
            (frame(ETHERTYPE_IPV6, 58, 128), false, "echo request"),
            (frame(ETHERTYPE_IPV6, 17, 135), false, "UDP"),
            (frame(0x0800, 58, 135), false, "IPv4"),
            (
                frame(ETHERTYPE_IPV6, 58, 135)[..54].to_vec(),
                false,
                "cut short",
            ),
            (Vec::new(), false, "empty"),
        ];
        for (f, pass, what) in cases {
            assert_eq!(run(&PROGRAM, &f) > 0, pass, "{what}");
            assert_eq!(super::super::is_candidate(&f), pass, "{what}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_is_candidate(
            head in proptest::collection::vec(any::<u8>(), 0..80),
            ethertype in prop_oneof![Just(ETHERTYPE_ARP), Just(ETHERTYPE_IPV6), any::<u16>()],
            next in prop_oneof![Just(58u8), any::<u8>()],
            icmp in prop_oneof![Just(135u8), Just(136u8), any::<u8>()],
        ) {
            // Random frames, steered towards the fields the filter reads.
            let mut f = head;
            for (at, v) in [(12, (ethertype >> 8) as u8), (13, ethertype as u8), (20, next), (54, icmp)] {
                if let Some(b) = f.get_mut(at) {
                    *b = v;
                }
            }
            prop_assert_eq!(run(&PROGRAM, &f) > 0, super::super::is_candidate(&f));
        }
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        for (pc, &(code, jt, jf, _)) in PROGRAM.iter().enumerate() {
            if code == JEQ {
                for off in [jt, jf] {
                    assert!(pc + 1 + usize::from(off) < PROGRAM.len(), "at {pc}");
                }
            }
        }
        assert_eq!(PROGRAM.last().map(|i| i.0), Some(RET));
    }
}
