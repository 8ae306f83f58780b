/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * ch-launch's HTTP client against a FAKE Cloud Hypervisor API server (the
 * real one cannot be installed on Debian 12): a child process listening on
 * an AF_UNIX socket, answering as CH's micro_http does, with the status codes
 * and bodies captured from a real CH (tests/launch/data): vm.info 200 + JSON,
 * vm.power-button 204, vmm.shutdown 200, unknown 404. Answers are written in
 * small pieces to exercise partial reads; one connection is never answered
 * to exercise the timeout.
 */

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http-client.h"
#include "ch-api.h"
#include "macro.h"
#include "tests.h"

static void send_slowly(int fd, const char *s, size_t n) {
        for (size_t i = 0; i < n; i += 100) {
                size_t k = n - i < 100 ? n - i : 100;
                if (write(fd, s + i, k) != (ssize_t) k)
                        _exit(2);
                usleep(200);
        }
}

static void respond(int fd, const char *request, const char *vm_info, FILE *log) {
        char line[256] = "";
        char head[512];
        const char *body = "";
        const char *status = "404 Not Found";

        sscanf(request, "%255[^\r]", line);
        fprintf(log, "%s\n", line);
        fflush(log);
        if (strcmp(line, "GET /api/v1/vm.info HTTP/1.1") == 0) {
                status = "200 OK";
                body = vm_info;
        } else if (strcmp(line, "PUT /api/v1/vm.power-button HTTP/1.1") == 0) {
                /* micro_http: 204 with no Content-Length */
                snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\nServer: Cloud Hypervisor API\r\n\r\n");
                send_slowly(fd, head, strlen(head));
                return;
        } else if (strcmp(line, "PUT /api/v1/vmm.shutdown HTTP/1.1") == 0)
                status = "200 OK";
        else if (strcmp(line, "GET /api/v1/never HTTP/1.1") == 0) {
                sleep(5); /* the client gives up first */
                return;
        }
        snprintf(head, sizeof head,
                 "HTTP/1.1 %s\r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 status, strlen(body));
        send_slowly(fd, head, strlen(head));
        send_slowly(fd, body, strlen(body));
}

static _noreturn_ void serve(int lfd, const char *vm_info, const char *logpath) {
        FILE *log = fopen(logpath, "we");

        if (!log)
                _exit(2);
        for (;;) {
                char req[8192];
                size_t n = 0;
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        _exit(2);
                while (n < sizeof req - 1) {
                        ssize_t k = read(fd, req + n, sizeof req - 1 - n);
                        if (k <= 0)
                                break;
                        n += (size_t) k;
                        req[n] = 0;
                        char *h = strstr(req, "\r\n\r\n");
                        /* requests from ch-launch carry at most Content-Length: 0 */
                        if (h)
                                break;
                }
                req[n] = 0;
                respond(fd, req, vm_info, log);
                close(fd);
        }
}

int main(void) {
        char dir[] = "/tmp/test-fake-ch-XXXXXX", sock[256], logpath[256], state[32];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *vm_info, *body = NULL, *log;
        pid_t pid;
        int lfd, r;

        vm_info = read_data("vm.info.json", NULL);
        CHECK(mkdtemp(dir));
        snprintf(sock, sizeof sock, "%s/api.sock", dir);
        snprintf(logpath, sizeof logpath, "%s/requests", dir);

        /* Nobody listening yet: a clean error, not a hang. */
        r = http_call(sock, "GET", "vm.info", NULL, USEC_PER_SEC, &body);
        CHECK(r == -ENOENT);

        strcpy(sa.sun_path, sock);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(lfd >= 0);
        CHECK(bind(lfd, (struct sockaddr *) &sa, sizeof sa) == 0);
        CHECK(listen(lfd, 8) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0)
                serve(lfd, vm_info, logpath);
        close(lfd);

        r = http_call(sock, "GET", "vm.info", NULL, 5 * USEC_PER_SEC, &body);
        CHECK(r == 200);
        CHECK(body && strlen(body) == strlen(vm_info));
        CHECK(ch_vm_info_state(body, strlen(body), state, sizeof state) == 0);
        CHECK_STREQ(state, "Running");
        free(body);
        body = NULL;

        CHECK(http_call(sock, "PUT", "vm.power-button", NULL, 5 * USEC_PER_SEC, &body) == 204);
        CHECK(body && body[0] == '\0');
        free(body);
        CHECK(http_call(sock, "PUT", "vmm.shutdown", NULL, 5 * USEC_PER_SEC, NULL) == 200);
        CHECK(http_call(sock, "PUT", "vm.nonsense", NULL, 5 * USEC_PER_SEC, NULL) == 404);

        /* A server that accepts and never answers: the deadline holds. */
        CHECK(http_call(sock, "GET", "never", NULL, 200 * USEC_PER_MSEC, NULL) == -ETIMEDOUT);

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);

        log = read_data(logpath, NULL);
        CHECK_STREQ(log, "GET /api/v1/vm.info HTTP/1.1\n"
                         "PUT /api/v1/vm.power-button HTTP/1.1\n"
                         "PUT /api/v1/vmm.shutdown HTTP/1.1\n"
                         "PUT /api/v1/vm.nonsense HTTP/1.1\n"
                         "GET /api/v1/never HTTP/1.1\n");
        unlink(logpath);
        unlink(sock);
        rmdir(dir);
        TESTS_EXIT();
}
