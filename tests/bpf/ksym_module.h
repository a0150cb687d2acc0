/* Shared by ksym_module.bpf.c (strong externs) and ksym_module_weak.bpf.c (__weak):
 * kfuncs that only a kernel module defines, nf_conntrack's bpf_xdp_ct_lookup and
 * bpf_ct_release (5.18+, in /sys/kernel/btf/nf_conntrack once the module is loaded).
 * A loader must find them in the module's split BTF and name that BTF to the kernel:
 * the call's off = the module BTF fd's index in BPF_PROG_LOAD's fd_array. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#ifndef KSYM_LINKAGE
#define KSYM_LINKAGE
#endif

#define BPFNB_CT_CURRENT_NETNS (-1)

/* The kernel's struct is a module type: declared here with the 12-byte layout every
 * kernel since 5.18 accepts (6.12 grew it to 16 and still takes 12). */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

/* Opaque here; a struct (not a forward declaration) so that libbpf's prototype check
 * finds the kernel's struct nf_conn compatible. */
struct nf_conn {
	unsigned long status;
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts, __u32 opts__sz) __ksym KSYM_LINKAGE;
extern void bpf_ct_release(struct nf_conn *ct) __ksym KSYM_LINKAGE;

/* What the lookup said (opts.error: -ENOENT for a tuple conntrack has never seen). */
int lookup_error = 1;

/* XDP_PASS when conntrack has no entry for 192.0.2.1:40000 -> 192.0.2.2:80/tcp (the
 * expected case), XDP_TX when it has one (released first, as the verifier insists). */
static __always_inline int ct_lookup_tcp(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts opts = { .netns_id = BPFNB_CT_CURRENT_NETNS, .l4proto = IPPROTO_TCP };
	struct nf_conn *ct;

	tup.ipv4.saddr = __builtin_bswap32(0xc0000201);
	tup.ipv4.daddr = __builtin_bswap32(0xc0000202);
	tup.ipv4.sport = __builtin_bswap16(40000);
	tup.ipv4.dport = __builtin_bswap16(80);
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	lookup_error = opts.error;
	if (ct) {
		bpf_ct_release(ct);
		return XDP_TX;
	}
	return XDP_PASS;
}
