// SPDX-License-Identifier: GPL-2.0
/* Programs whose section sets load flags: SEC("syscall") is sleepable (the
 * kernel refuses a non-sleepable syscall program), SEC("xdp.frags") sets
 * BPF_F_XDP_HAS_FRAGS (it may then read the length of a multi-buffer
 * packet), and an iterator whose attach target is the bpf_iter_task func. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 runs = 0;

SEC("syscall")
int count_run(void *ctx)
{
	runs++;
	return 0;
}

SEC("xdp.frags")
int frags_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx) > 64 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
