/*
 * floor: the kernel's own cost of building and reading an IPVS table, the
 * reference every ipvs-ts benchmark ratio is measured against.
 *
 * Usage: floor NSVC NDST BATCH [spread|read]
 *   Pre-encodes NSVC TCP services (scheduler wlc) with NDST masquerading
 *   destinations each, then sends them BATCH messages per send() and waits
 *   for every ACK (apply_ms). Then reads the table back: one service dump and
 *   one destination dump per service, one after another (a netlink socket
 *   runs one dump at a time), counting messages without decoding (read_ms).
 *   Prints one line of key=value pairs. Flushes the table at the end.
 *
 * The table is the one test/bench/run.mjs builds: services
 * 10.<1+s/250>.<s%250>.1:80, destinations 10.200.<s%250>.<d+2>:8080, weight d+1.
 * Every service address ends in .1, and the kernel's service hash (256
 * buckets) only sees the last byte of an IPv4 address: all services share one
 * bucket. With `spread` the last byte follows the third (10.<1+s/250>.<s%250>.
 * <s%250+1>), which spreads the services over 250 buckets.
 *
 * With `read` nothing is built or flushed: only the read-back runs, on the
 * table already in the namespace (built by ipvs-ts with the same addresses),
 * so that a snapshot and the floor's read can be timed on one table.
 */
#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sock;
static unsigned next_seq = 1;
static char rbuf[1 << 16];
static int spread;
static int read_only;

static double ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Append one attribute at p; returns the end (4-byte aligned). */
static char *attr(char *p, unsigned short type, const void *data, unsigned short len) {
  struct nlattr *a = (struct nlattr *)p;
  a->nla_len = NLA_HDRLEN + len;
  a->nla_type = type;
  if (len) memcpy(p + NLA_HDRLEN, data, len);
  memset(p + NLA_HDRLEN + len, 0, NLA_ALIGN(a->nla_len) - a->nla_len);
  return p + NLA_ALIGN(a->nla_len);
}
static char *nest_end(char *start, char *end) {
  ((struct nlattr *)start)->nla_len = end - start;
  return end;
}

/* Start a genetlink message at p with the given family/command; returns where attributes go. */
static char *msg(char *p, unsigned short family, unsigned char cmd, unsigned short flags) {
  struct nlmsghdr *h = (struct nlmsghdr *)p;
  memset(h, 0, NLMSG_HDRLEN + GENL_HDRLEN);
  h->nlmsg_type = family;
  h->nlmsg_flags = flags;
  h->nlmsg_seq = next_seq++;
  struct genlmsghdr *g = (struct genlmsghdr *)(p + NLMSG_HDRLEN);
  g->cmd = cmd;
  g->version = 1;
  return p + NLMSG_HDRLEN + GENL_HDRLEN;
}
static char *msg_end(char *start, char *end) {
  ((struct nlmsghdr *)start)->nlmsg_len = end - start;
  return start + NLMSG_ALIGN(end - start);
}

/* Read until `want` answers (ACKs or DONEs) have arrived; returns data messages seen. */
static long wait_answers(long want, long *errors) {
  long data = 0;
  while (want > 0) {
    ssize_t n = recv(sock, rbuf, sizeof rbuf, 0);
    if (n < 0) { perror("recv"); exit(1); }
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (((struct nlmsgerr *)NLMSG_DATA(h))->error && errors) (*errors)++;
        want--;
      } else if (h->nlmsg_type == NLMSG_DONE) {
        want--;
      } else {
        data++;
      }
    }
  }
  return data;
}

static unsigned short resolve_ipvs(void) {
  char buf[256];
  char *a = msg(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_REQUEST);
  char *e = msg_end(buf, attr(a, CTRL_ATTR_FAMILY_NAME, "IPVS", 5));
  send(sock, buf, e - buf, 0);
  ssize_t n = recv(sock, rbuf, sizeof rbuf, 0);
  struct nlmsghdr *h = (struct nlmsghdr *)rbuf;
  if (n < 0 || !NLMSG_OK(h, n) || h->nlmsg_type != GENL_ID_CTRL) return 0;
  int len = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
  for (struct nlattr *x = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN); len >= NLA_HDRLEN && x->nla_len >= NLA_HDRLEN;
       len -= NLA_ALIGN(x->nla_len), x = (struct nlattr *)((char *)x + NLA_ALIGN(x->nla_len)))
    if ((x->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) return *(unsigned short *)((char *)x + NLA_HDRLEN);
  return 0;
}

/* The service-identity nest of service s. */
static char *service_key(char *p, int s, int full) {
  char *nest = p;
  p += NLA_HDRLEN;
  unsigned short af = AF_INET, proto = IPPROTO_TCP, port = htons(80);
  unsigned char addr[16] = {10, (unsigned char)(1 + s / 250), (unsigned char)(s % 250), (unsigned char)(spread ? s % 250 + 1 : 1)};
  p = attr(p, IPVS_SVC_ATTR_AF, &af, 2);
  p = attr(p, IPVS_SVC_ATTR_PROTOCOL, &proto, 2);
  p = attr(p, IPVS_SVC_ATTR_ADDR, addr, 16);
  p = attr(p, IPVS_SVC_ATTR_PORT, &port, 2);
  if (full) {
    struct ip_vs_flags fl = {0, ~0u};
    unsigned timeout = 0, mask = 0xffffffff;
    p = attr(p, IPVS_SVC_ATTR_SCHED_NAME, "wlc", 4);
    p = attr(p, IPVS_SVC_ATTR_FLAGS, &fl, sizeof fl);
    p = attr(p, IPVS_SVC_ATTR_TIMEOUT, &timeout, 4);
    p = attr(p, IPVS_SVC_ATTR_NETMASK, &mask, 4);
  }
  ((struct nlattr *)nest)->nla_type = IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED;
  return nest_end(nest, p);
}

int main(int argc, char **argv) {
  if (argc != 4 && !(argc == 5 && (strcmp(argv[4], "spread") == 0 || strcmp(argv[4], "read") == 0))) { fprintf(stderr, "usage: %s NSVC NDST BATCH [spread|read]\n", argv[0]); return 2; }
  int nsvc = atoi(argv[1]), ndst = atoi(argv[2]), batch = atoi(argv[3]);
  spread = argc == 5 && strcmp(argv[4], "spread") == 0;
  read_only = argc == 5 && strcmp(argv[4], "read") == 0;
  sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  int big = 8 << 20;
  setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("socket"); return 1; }
  unsigned short fam = resolve_ipvs();
  if (!fam) { fprintf(stderr, "IPVS generic netlink family not found (is ip_vs loaded?)\n"); return 1; }

  /* Encode everything first. */
  long nmsg = (long)nsvc * (1 + ndst);
  char *out = malloc(nmsg * 256);
  char **starts = malloc((nmsg + 1) * sizeof *starts);
  char *p = out;
  long m = 0;
  double t0 = ms();
  for (int s = 0; s < nsvc; s++) {
    starts[m++] = p;
    char *a = msg(p, fam, IPVS_CMD_NEW_SERVICE, NLM_F_REQUEST | NLM_F_ACK);
    p = msg_end(p, service_key(a, s, 1));
    for (int d = 0; d < ndst; d++) {
      starts[m++] = p;
      char *b = msg(p, fam, IPVS_CMD_NEW_DEST, NLM_F_REQUEST | NLM_F_ACK);
      b = service_key(b, s, 0);
      char *nest = b;
      b += NLA_HDRLEN;
      unsigned char addr[16] = {10, 200, (unsigned char)(s % 250), (unsigned char)(d + 2)};
      unsigned short af = AF_INET, port = htons(8080);
      unsigned fwd = IP_VS_CONN_F_MASQ, weight = d + 1, zero = 0;
      b = attr(b, IPVS_DEST_ATTR_ADDR_FAMILY, &af, 2);
      b = attr(b, IPVS_DEST_ATTR_ADDR, addr, 16);
      b = attr(b, IPVS_DEST_ATTR_PORT, &port, 2);
      b = attr(b, IPVS_DEST_ATTR_FWD_METHOD, &fwd, 4);
      b = attr(b, IPVS_DEST_ATTR_WEIGHT, &weight, 4);
      b = attr(b, IPVS_DEST_ATTR_U_THRESH, &zero, 4);
      b = attr(b, IPVS_DEST_ATTR_L_THRESH, &zero, 4);
      ((struct nlattr *)nest)->nla_type = IPVS_CMD_ATTR_DEST | NLA_F_NESTED;
      p = msg_end(p, nest_end(nest, b));
    }
  }
  starts[m] = p;
  double t1 = ms();

  /* Apply: BATCH messages per send, then wait for their ACKs. */
  long errors = 0;
  for (long i = 0; !read_only && i < nmsg; i += batch) {
    long k = i + batch <= nmsg ? batch : nmsg - i;
    if (send(sock, starts[i], starts[i + k] - starts[i], 0) < 0) { perror("send"); return 1; }
    wait_answers(k, &errors);
  }
  double t2 = ms();

  /* Read back: one service dump, then one destination dump per service. */
  char req[256];
  char *e = msg_end(req, msg(req, fam, IPVS_CMD_GET_SERVICE, NLM_F_REQUEST | NLM_F_DUMP));
  send(sock, req, e - req, 0);
  long services = wait_answers(1, NULL), dests = 0;
  for (int s = 0; s < nsvc; s++) {
    char *a = msg(req, fam, IPVS_CMD_GET_DEST, NLM_F_REQUEST | NLM_F_DUMP);
    e = msg_end(req, service_key(a, s, 0));
    send(sock, req, e - req, 0);
    dests += wait_answers(1, NULL);
  }
  double t3 = ms();

  if (!read_only) {
    e = msg_end(req, msg(req, fam, IPVS_CMD_FLUSH, NLM_F_REQUEST | NLM_F_ACK));
    send(sock, req, e - req, 0);
    wait_answers(1, NULL);
  }
  printf("floor services=%d destinations=%d batch=%d messages=%ld errors=%ld encode_ms=%.1f apply_ms=%.1f read_ms=%.1f read_services=%ld read_destinations=%ld\n",
         nsvc, nsvc * ndst, batch, nmsg, errors, t1 - t0, t2 - t1, t3 - t2, services, dests);
  return errors ? 1 : 0;
}
