// SPDX-License-Identifier: GPL-2.0
/* Many CO-RE records (60+): BPF_CORE_READ chains through several kernel
 * structs (task_struct -> mm -> exe_file -> f_path.dentry -> d_name.name,
 * nsproxy, cred, files, fs, signal), anonymous members (mm_struct's
 * arg_start..env_end, qstr's len), a flexible array (pid.numbers[]), and a
 * non-zero leading index (&t[1].pid).  Used by the libbpf differential test
 * and the CO-RE benchmark. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef unsigned int u32;
typedef unsigned long long u64;
typedef struct { unsigned int val; } kuid_t;

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
	struct dentry *d_parent;
} __attribute__((preserve_access_index));

struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct {
		struct file *exe_file;
		unsigned long arg_start;
		unsigned long arg_end;
		unsigned long env_start;
		unsigned long env_end;
	};
} __attribute__((preserve_access_index));

struct pid_namespace {
	unsigned int level;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct pid_namespace *pid_ns_for_children;
} __attribute__((preserve_access_index));

struct cred {
	kuid_t uid;
	kuid_t euid;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path pwd;
	struct path root;
} __attribute__((preserve_access_index));

struct signal_struct {
	int nr_threads;
} __attribute__((preserve_access_index));

struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[];
} __attribute__((preserve_access_index));

struct sched_entity {
	u64 sum_exec_runtime;
	u64 vruntime;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct mm_struct *mm;
	struct nsproxy *nsproxy;
	const struct cred *cred;
	struct files_struct *files;
	struct fs_struct *fs;
	struct signal_struct *signal;
	struct sched_entity se;
	u64 start_time;
	char comm[16];
} __attribute__((preserve_access_index));

u64 out[64];


SEC("raw_tracepoint/sched_switch")
int core_chains(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	int i = 0;

	out[i++] = BPF_CORE_READ(t, pid);
	out[i++] = BPF_CORE_READ(t, tgid);
	out[i++] = BPF_CORE_READ(t, real_parent, pid);
	out[i++] = BPF_CORE_READ(t, real_parent, real_parent, pid);
	out[i++] = BPF_CORE_READ(t, real_parent, real_parent, real_parent, tgid);
	out[i++] = BPF_CORE_READ(t, group_leader, pid);
	out[i++] = BPF_CORE_READ(t, mm, arg_start);
	out[i++] = BPF_CORE_READ(t, mm, arg_end);
	out[i++] = BPF_CORE_READ(t, mm, env_start);
	out[i++] = BPF_CORE_READ(t, mm, env_end);
	out[i++] = (u64)BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.name);
	out[i++] = BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.len);
	out[i++] = (u64)BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_parent, d_name.name);
	out[i++] = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);
	out[i++] = BPF_CORE_READ(t, cred, uid.val);
	out[i++] = BPF_CORE_READ(t, cred, euid.val);
	out[i++] = BPF_CORE_READ(t, files, fdt, max_fds);
	out[i++] = (u64)BPF_CORE_READ(t, fs, pwd.dentry, d_name.name);
	out[i++] = (u64)BPF_CORE_READ(t, fs, root.dentry, d_name.name);
	out[i++] = BPF_CORE_READ(t, signal, nr_threads);
	out[i++] = BPF_CORE_READ(t, thread_pid, level);
	out[i++] = BPF_CORE_READ(t, thread_pid, numbers[0].nr);
	out[i++] = BPF_CORE_READ(t, thread_pid, numbers[1].nr);
	out[i++] = BPF_CORE_READ(t, se.sum_exec_runtime);
	out[i++] = BPF_CORE_READ(t, se.vruntime);
	out[i++] = BPF_CORE_READ(t, start_time);
	out[i++] = BPF_CORE_READ(t, group_leader, real_parent, cred, uid.val);
	out[i++] = BPF_CORE_READ(t, thread_pid, numbers[0].ns, level);
	out[i++] = BPF_CORE_READ(t, real_parent, nsproxy, pid_ns_for_children, level);
	out[i++] = BPF_CORE_READ(t, real_parent, mm, arg_start);
	out[i++] = BPF_CORE_READ(t, comm[0]);
	out[i++] = BPF_CORE_READ(t, comm[15]);
	{
		int pid1 = 0;

		/* &t[1].pid: access string 1:0, a non-zero leading index */
		bpf_core_read(&pid1, sizeof(pid1), &t[1].pid);
		out[i++] = pid1;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
