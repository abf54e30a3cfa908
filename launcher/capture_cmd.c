/* uml-nf capture UMID vecN [-w FILE] [-c COUNT] [-i rx|tx|both] [-s SNAP]
 * [FILTER...]: live capture of one device of a running uml-nf through its
 * control socket (csock_proto.h "capture").
 *
 * The filter is compiled here with libpcap (pcap_compile for Ethernet) and
 * sent to uml-nf, whose datapath runs it on each frame it copies, so only
 * matching frames take room in the capture ring. Frames go to a pcap file
 * through libpcap's dump writer (nanosecond timestamps), or are printed one
 * line each.
 */
#include "stats_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "capture.h"
#include "csock_client.h"
#include "csock_proto.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: uml-nf capture UMID vecN [-w FILE] [-c COUNT] [-i rx|tx|both] [-s SNAPLEN]\n"
	    "                      [FILTER...]\n"
	    "\n"
	    "Captures the frames device vecN of the uml-nf running with umid=UMID moves:\n"
	    "rx = host -> guest (as the host transport delivered them), tx = guest -> host.\n"
	    "\n"
	    "  -w FILE     write a pcap file (\"-\": standard output) instead of one line per\n"
	    "              frame; pcapng is not available: this libpcap (%s)\n"
	    "              writes only pcap (tshark and wireshark read it; editcap -F pcapng\n"
	    "              converts)\n"
	    "  -c COUNT    stop after COUNT frames (default: until interrupted)\n"
	    "  -i DIR      rx, tx or both (default both)\n"
	    "  -s SNAPLEN  bytes kept of each frame, %u..%u (default %u)\n"
	    "  FILTER      a pcap filter expression (man pcap-filter), e.g. icmp, \"tcp port 22\"\n"
	    "\n"
	    "Ends with one line on stderr: frames captured, and frames missed because\n"
	    "uml-nf's capture ring was full (it never slows the datapath down).\n",
	    pcap_lib_version(), NF_CAP_SNAP_MIN, NF_CAP_SNAP_MAX, NF_CAP_SNAP_MAX);
}

/* ---- one line per frame ---- */

static const char *icmp_type(unsigned t)
{
	switch (t) {
	case 0:
		return "echo reply";
	case 3:
		return "unreachable";
	case 5:
		return "redirect";
	case 8:
		return "echo request";
	case 11:
		return "time exceeded";
	default:
		return NULL;
	}
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Appends a summary of an IP payload (proto at l4, len bytes). */
static int l4_summary(char *out, size_t len, unsigned proto, const uint8_t *l4, size_t n, bool v6)
{
	switch (proto) {
	case 1:
	case 58:
		if (n >= 8 && proto == (v6 ? 58u : 1u)) {
			const char *t = v6 ? (l4[0] == 128   ? "echo request"
					      : l4[0] == 129 ? "echo reply"
							     : NULL)
					   : icmp_type(l4[0]);
			if (t && (strstr(t, "echo")))
				return snprintf(out, len, " %s %s id %u seq %u",
						v6 ? "ICMP6" : "ICMP", t, get16(l4 + 4),
						get16(l4 + 6));
			if (t)
				return snprintf(out, len, " %s %s", v6 ? "ICMP6" : "ICMP", t);
			return snprintf(out, len, " %s type %u code %u", v6 ? "ICMP6" : "ICMP",
					l4[0], l4[1]);
		}
		break;
	case 6:
		if (n >= 20) {
			static const char fl[] = "FSRPAUEC";
			char f[9];
			unsigned k = 0;
			for (unsigned b = 0; b < 8; b++)
				if (l4[13] & (1u << b))
					f[k++] = fl[b];
			f[k] = '\0';
			return snprintf(out, len, " TCP %u > %u [%s]", get16(l4), get16(l4 + 2),
					k ? f : "-");
		}
		break;
	case 17:
		if (n >= 8)
			return snprintf(out, len, " UDP %u > %u len %u", get16(l4), get16(l4 + 2),
					get16(l4 + 4));
		break;
	default:
		break;
	}
	return snprintf(out, len, " proto %u", proto);
}

/* A tcpdump-like summary of an Ethernet frame; every read is bounded by n. */
static void frame_summary(const uint8_t *f, size_t n, char *out, size_t len)
{
	size_t o = 0;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
#define ADD(...)                                                                                   \
	do {                                                                                       \
		int w_ = snprintf(out + o, len - o, __VA_ARGS__);                                  \
		if (w_ > 0)                                                                        \
			o = (size_t)w_ < len - o ? o + (size_t)w_ : len - 1;                       \
	} while (0)

	out[0] = '\0';
	if (n < 14) {
		ADD("runt frame");
		return;
	}
	ADD("%02x:%02x:%02x:%02x:%02x:%02x > %02x:%02x:%02x:%02x:%02x:%02x", f[6], f[7], f[8], f[9],
	    f[10], f[11], f[0], f[1], f[2], f[3], f[4], f[5]);
	size_t off = 12;
	uint16_t type = get16(f + off);
	for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2 && n >= off + 6; tags++) {
		ADD(" vlan %u", get16(f + off + 2) & 0xfff);
		off += 4;
		type = get16(f + off);
	}
	off += 2;
	const uint8_t *p = f + off;
	size_t rest = n > off ? n - off : 0;
	switch (type) {
	case 0x0800:
		if (rest >= 20 && (p[0] >> 4) == 4 && (size_t)(p[0] & 15) * 4 >= 20) {
			size_t ihl = (size_t)(p[0] & 15) * 4;
			inet_ntop(AF_INET, p + 12, a, sizeof(a));
			inet_ntop(AF_INET, p + 16, b, sizeof(b));
			ADD(" IPv4 %s > %s", a, b);
			if ((get16(p + 6) & 0x1fff) == 0 && rest >= ihl) {
				char l4[96];
				l4_summary(l4, sizeof(l4), p[9], p + ihl, rest - ihl, false);
				ADD("%s", l4);
			}
			return;
		}
		ADD(" IPv4 (truncated)");
		return;
	case 0x86dd:
		if (rest >= 40) {
			inet_ntop(AF_INET6, p + 8, a, sizeof(a));
			inet_ntop(AF_INET6, p + 24, b, sizeof(b));
			char l4[96];
			l4_summary(l4, sizeof(l4), p[6], p + 40, rest - 40, true);
			ADD(" IPv6 %s > %s%s", a, b, l4);
			return;
		}
		ADD(" IPv6 (truncated)");
		return;
	case 0x0806:
		if (rest >= 28 && get16(p) == 1 && get16(p + 2) == 0x0800) {
			inet_ntop(AF_INET, p + 24, a, sizeof(a));
			inet_ntop(AF_INET, p + 14, b, sizeof(b));
			if (get16(p + 6) == 1)
				ADD(" ARP who-has %s tell %s", a, b);
			else
				ADD(" ARP reply %s is-at %02x:%02x:%02x:%02x:%02x:%02x", b, p[8],
				    p[9], p[10], p[11], p[12], p[13]);
			return;
		}
		ADD(" ARP");
		return;
	default:
		ADD(" ethertype 0x%04x", type);
		return;
	}
#undef ADD
}

/* ---- main ---- */

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	char *end;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || *end || end == s || *s == '-' || *v < min || *v > max ? -EINVAL : 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int nf_capture_main(int argc, char **argv)
{
	const char *umid = NULL, *dev = NULL, *wfile = NULL, *dir = "both";
	unsigned long count = 0, snaplen = NF_CAP_SNAP_MAX;
	char filter[4096] = "", err[512], text[256];
	size_t flen = 0;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *opt_arg = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "-w") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "-i") == 0 ||
			   strcmp(a, "-s") == 0) {
			if (!opt_arg) {
				fprintf(stderr, "uml-nf: error: capture: %s needs a value\n", a);
				return 2;
			}
			i++;
			if (a[1] == 'w') {
				wfile = opt_arg;
			} else if (a[1] == 'c') {
				if (parse_uint(opt_arg, 1, 1000000000, &count) < 0) {
					fprintf(stderr,
						"uml-nf: error: capture: -c: expected a count "
						"1..1000000000, got \"%s\"\n",
						opt_arg);
					return 2;
				}
			} else if (a[1] == 'i') {
				if (!csp_dir_parse(opt_arg)) {
					fprintf(stderr,
						"uml-nf: error: capture: -i: expected rx, tx or "
						"both, got \"%s\"\n",
						opt_arg);
					return 2;
				}
				dir = opt_arg;
			} else if (parse_uint(opt_arg, NF_CAP_SNAP_MIN, NF_CAP_SNAP_MAX, &snaplen) <
				   0) {
				fprintf(stderr,
					"uml-nf: error: capture: -s: expected %u..%u bytes, got "
					"\"%s\"\n",
					NF_CAP_SNAP_MIN, NF_CAP_SNAP_MAX, opt_arg);
				return 2;
			}
		} else if (a[0] == '-' && a[1] && !umid) {
			fprintf(stderr,
				"uml-nf: error: capture: unknown option \"%s\" (see uml-nf "
				"capture --help)\n",
				a);
			return 2;
		} else if (!umid) {
			umid = a;
		} else if (!dev) {
			dev = a;
		} else {
			/* The rest is the filter, as tcpdump takes it. */
			int w = snprintf(filter + flen, sizeof(filter) - flen, "%s%s",
					 flen ? " " : "", a);
			if (w < 0 || (size_t)w >= sizeof(filter) - flen) {
				fprintf(stderr, "uml-nf: error: capture: filter too long\n");
				return 2;
			}
			flen += (size_t)w;
		}
	}
	unsigned index;
	if (!umid || !dev) {
		fprintf(stderr,
			"uml-nf: error: capture: expected UMID and a device (uml-nf capture "
			"UMID vecN ...)\n");
		return 2;
	}
	if (csp_dev_parse(dev, &index) < 0) {
		fprintf(stderr, "uml-nf: error: capture: \"%s\" is not a device (vec0..vec63)\n",
			dev);
		return 2;
	}
	if (wfile && ends_with(wfile, ".pcapng")) {
		fprintf(stderr,
			"uml-nf: error: capture: -w %s: pcapng cannot be written with this "
			"libpcap (%s writes only pcap); name the file .pcap (editcap -F pcapng "
			"converts it)\n",
			wfile, pcap_lib_version());
		return 2;
	}

	/* The filter is compiled for what the datapath sees: Ethernet frames. */
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)snaplen,
							    PCAP_TSTAMP_PRECISION_NANO);
	if (!dead) {
		fprintf(stderr, "uml-nf: error: capture: pcap_open_dead failed\n");
		return 1;
	}
	struct bpf_program prog = {0, NULL};
	char *req = NULL;
	pcap_dumper_t *dumper = NULL;
	struct csc_conn *c = NULL;
	if (flen && pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "uml-nf: error: capture: filter \"%s\": %s\n", filter,
			pcap_geterr(dead));
		status = 2;
		goto out;
	}
	if (prog.bf_len > NF_BPF_MAX_INSNS) {
		fprintf(stderr,
			"uml-nf: error: capture: filter \"%s\" compiles to %u instructions, "
			"more than %u\n",
			filter, prog.bf_len, NF_BPF_MAX_INSNS);
		status = 2;
		goto out;
	}
	size_t rlen = 128 + (size_t)prog.bf_len * CSP_BPF_HEX_LEN;
	req = malloc(rlen);
	c = malloc(sizeof(*c));
	if (!req || !c) {
		fprintf(stderr, "uml-nf: error: out of memory\n");
		goto out;
	}
	int n = snprintf(req, rlen, "capture vec%u dir=%s snap=%lu%s", index, dir, snaplen,
			 prog.bf_len ? " bpf=" : "");
	if (prog.bf_len)
		csp_bpf_encode((const struct nf_bpf_insn *)prog.bf_insns, prog.bf_len, req + n,
			       rlen - (size_t)n);

	if (wfile) {
		dumper = pcap_dump_open(dead, wfile);
		if (!dumper) {
			fprintf(stderr, "uml-nf: error: capture: -w %s: %s\n", wfile,
				pcap_geterr(dead));
			goto out;
		}
	}
	if (csc_open(c, umid, err, sizeof(err)) < 0 || csc_send(c, req, err, sizeof(err)) < 0) {
		fprintf(stderr, "uml-nf: error: capture: %s\n", err);
		goto out;
	}
	int rc = csc_read_status(c, text, sizeof(text), 5000);
	if (rc < 0) {
		fprintf(stderr, "uml-nf: error: capture: %s\n", text);
		goto out_close;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!wfile || strcmp(wfile, "-") != 0)
		fprintf(stderr, "uml-nf capture: vec%u of umid=%s, %s%s%s%s\n", index, umid,
			strcmp(dir, "both") == 0 ? "both directions" : dir,
			flen ? ", filter \"" : "", flen ? filter : "", flen ? "\"" : "");

	uint8_t *data = malloc(NF_CAP_SNAP_MAX);
	unsigned long got = 0, rxn = 0, txn = 0;
	struct csp_cap_end end = {0, 0};
	bool stopping = false, have_end = false;
	if (!data)
		goto out_close;
	for (;;) {
		if (stop_flag && !stopping) {
			shutdown(c->fd, SHUT_WR); /* "stop": the server sends its end record */
			stopping = true;
		}
		struct csp_cap_hdr h;
		rc = csc_wait(c, sizeof(h), 200);
		if (rc == -ETIMEDOUT || rc == -EINTR)
			continue; /* look at stop_flag again */
		if (rc < 0)
			break;
		csc_read_exact(c, &h, sizeof(h), 0); /* buffered */
		if (csp_cap_check(&h, (uint32_t)snaplen) < 0) {
			rc = -EPROTO;
			break;
		}
		/* The body follows its header at once: wait for it as long as
		 * it takes. */
		if (h.type == CSP_REC_END) {
			rc = csc_read_exact(c, &end, sizeof(end), 5000);
			have_end = rc == 0;
			break;
		}
		do
			rc = csc_read_exact(c, data, h.caplen, 5000);
		while (rc == -EINTR);
		if (rc < 0)
			break;
		if (count && got >= count)
			continue; /* arrived after we asked to stop */
		got++;
		if (h.dir == CAP_DIR_RX)
			rxn++;
		else
			txn++;
		if (dumper) {
			struct pcap_pkthdr ph = {
			    .ts = {(time_t)(h.ts_ns / 1000000000u), (long)(h.ts_ns % 1000000000u)},
			    .caplen = h.caplen,
			    .len = h.wirelen,
			};
			pcap_dump((u_char *)dumper, &ph, data);
		} else {
			char sum[256], when[32];
			time_t secs = (time_t)(h.ts_ns / 1000000000u);
			strftime(when, sizeof(when), "%H:%M:%S", localtime(&secs));
			frame_summary(data, h.caplen, sum, sizeof(sum));
			printf("%s.%06u vec%u %s %u %s\n", when,
			       (unsigned)(h.ts_ns % 1000000000u / 1000u), index,
			       h.dir == CAP_DIR_RX ? "rx" : "tx", h.wirelen, sum);
			fflush(stdout);
		}
		if (count && got >= count && !stopping) {
			shutdown(c->fd, SHUT_WR);
			stopping = true;
		}
	}
	free(data);
	if (!have_end) {
		fprintf(stderr, "uml-nf: error: capture: %s before the capture ended\n",
			rc == -EPROTO ? "malformed data from uml-nf" : "uml-nf went away");
	} else {
		status = 0;
	}
	fprintf(stderr,
		"uml-nf capture: vec%u: %lu frame%s captured (rx %lu, tx %lu), %llu missed "
		"(ring full)%s\n",
		index, got, got == 1 ? "" : "s", rxn, txn, (unsigned long long)end.missed,
		have_end ? "" : ", end not seen");
out_close:
	csc_close(c);
out:
	if (dumper)
		pcap_dump_close(dumper);
	pcap_freecode(&prog);
	pcap_close(dead);
	free(req);
	free(c);
	return status;
}
