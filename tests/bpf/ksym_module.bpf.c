// SPDX-License-Identifier: GPL-2.0
/* Strong module-only kfuncs (see ksym_module.h): loads where nf_conntrack's BTF is
 * loaded; elsewhere a loader refuses it, naming the kfunc. */
#include "ksym_module.h"

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	return ct_lookup_tcp(ctx);
}

char LICENSE[] SEC("license") = "GPL";
