/*
 * accept-close: the real servers of the health-check benchmarks. Listens on
 * 0.0.0.0:PORT (0: any free port, printed on stdout), accepts every connection
 * and closes it at once, in one blocking loop: a few microseconds per
 * connection, so that the checker, not the server, bounds a benchmark at
 * 10,000 checks per second.
 *
 * Usage: accept-close PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 65535) != 0) {
    perror("accept-close: bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  getsockname(s, (struct sockaddr*)&a, &len);
  printf("%d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) close(c);
  }
}
