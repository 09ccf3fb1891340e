/*
 * pause: the process of a pod's sandbox container.
 *
 * The sandbox only exists to hold the pod's namespaces (network, IPC, and PID
 * when shared) while the pod's containers come and go. So it sleeps, exits
 * cleanly when asked to stop (PID 1 ignores signals it has no handler for, so
 * without these handlers `docker stop` would wait for its SIGKILL), and reaps
 * orphans re-parented to it when the pod shares one PID namespace.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "jota-pause 3.9"

static void shut_down(int signo) {
  (void)signo;
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static void on(int signo, void (*handler)(int), int flags) {
  struct sigaction act;
  memset(&act, 0, sizeof(act));
  act.sa_handler = handler;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (sigaction(signo, &act, NULL) < 0) {
    perror("sigaction");
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts(VERSION);
    return 0;
  }
  if (getpid() != 1) {
    fputs("Warning: pause should be the first process\n", stderr);
  }
  on(SIGINT, shut_down, 0);
  on(SIGTERM, shut_down, 0);
  on(SIGCHLD, reap, SA_NOCLDSTOP | SA_RESTART);
  for (;;) {
    pause();
  }
  fputs("Error: infinite loop terminated\n", stderr);
  return 42;
}
