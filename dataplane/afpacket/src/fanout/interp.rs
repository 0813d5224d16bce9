//! The fanout program as the kernel runs it, without a kernel: a classic
//! BPF interpreter for the opcodes [`fanout_program`] uses, so that tests
//! (this crate's, and the node's, through the `interp` feature) can ask
//! which worker the kernel gives a frame and compare it with the worker
//! the node sends the flow's state to ([`super::worker_of`]).

use super::{
    AD_PROTOCOL, ADD_K, ADD_X, Insn, JA, JEQ_K, JSET_K, LD_B_ABS, LD_B_IND, LD_H_ABS, LD_H_IND,
    LD_IMM, LD_MEM, LD_W_ABS, LDX_B_MSH, LDX_IMM, LDX_MEM, LSH_K, MUL_K, RET_A, RET_K, RSH_K, ST,
    TAX, XOR_X, fanout_program,
};

/// Run `prog` over `pkt`, a packet that starts at its network header (as
/// the fanout demux sees it) and whose `skb->protocol` is `protocol`.
/// `None` where the kernel aborts the program: a load out of bounds (the
/// filter then returns 0).
///
/// # Panics
///
/// On an opcode the fanout program does not use.
pub fn run(prog: &[Insn], pkt: &[u8], protocol: u16) -> Option<u32> {
    let (mut a, mut x, mut m) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    let load = |off: usize, size: usize| -> Option<u32> {
        let b = pkt.get(off..off.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
    };
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS if i.k == AD_PROTOCOL => a = u32::from(protocol),
            LD_W_ABS => a = load(i.k as usize, 4)?,
            LD_H_ABS => a = load(i.k as usize, 2)?,
            LD_B_ABS => a = load(i.k as usize, 1)?,
            LD_H_IND => a = load(x as usize + i.k as usize, 2)?,
            LD_B_IND => a = load(x as usize + i.k as usize, 1)?,
            LD_IMM => a = i.k,
            LDX_IMM => x = i.k,
            LD_MEM => a = m[i.k as usize],
            LDX_MEM => x = m[i.k as usize],
            LDX_B_MSH => x = 4 * (load(i.k as usize, 1)? & 0xf),
            ST => m[i.k as usize] = a,
            TAX => x = a,
            XOR_X => a ^= x,
            ADD_K => a = a.wrapping_add(i.k),
            ADD_X => a = a.wrapping_add(x),
            LSH_K => a <<= i.k,
            MUL_K => a = a.wrapping_mul(i.k),
            RSH_K => a >>= i.k,
            JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
            JA => pc += i.k as usize,
            RET_A => return Some(a),
            RET_K => return Some(i.k),
            other => panic!("opcode {other:#x} not interpreted"),
        }
    }
}

/// The member of a fanout group of `workers` sockets the kernel gives a
/// packet (from its network header on, `skb->protocol` being `protocol`):
/// the program's value modulo the group's size, 0 when the program aborts
/// (`fanout_demux_bpf`).
pub fn kernel_worker(pkt: &[u8], protocol: u16, workers: usize) -> usize {
    let v = run(&fanout_program(), pkt, protocol).unwrap_or(0);
    (v % workers.max(1) as u32) as usize
}
