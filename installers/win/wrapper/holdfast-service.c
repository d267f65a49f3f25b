/*
 * holdfast-service.exe: runs the Holdfast agent (node.exe + the agent bundle) as a Windows service.
 *
 * Usage (ServiceInstall Arguments):
 *   holdfast-service.exe [--log <file>] -- <child command line>
 * Also, as an MSI custom action (Binary table) before an upgrade removes the older product:
 *   holdfast-service.exe --set-owner <installer.json> <ProductCode>
 * which records the new product as the owner of an existing agent config, so the older product's uninstall
 * leaves it in place (needed where the nested uninstall does not see UPGRADINGPRODUCTCODE, e.g. Wine).
 * Everything after " -- " is started verbatim as the child command line, so quoting stays exactly as
 * the MSI wrote it. The child's stdout/stderr go to the log file. If the child exits while the service
 * is running, it is restarted with a growing delay (1 s doubling up to 60 s). Stopping the service
 * terminates the child through a kill-on-close job object, so no agent process outlives the service.
 * The log is the wrapper's lines and the child's stray output (the agent writes and rotates its own agent.log):
 * before each (re)start of the child, a log past LOG_ROTATE_BYTES becomes <log>.1 (replacing the older one), so it
 * never grows without bound, even in a crash loop.
 *
 * Built with Debian's mingw-w64: x86_64-w64-mingw32-gcc -municode -O2 -s -o holdfast-service.exe holdfast-service.c -lshell32
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS status;
static HANDLE stop_event;
static HANDLE job;
static wchar_t *child_cmdline;
static wchar_t *log_path;

static void set_state(DWORD state, DWORD exit_code)
{
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWin32ExitCode = exit_code;
    status.dwWaitHint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : 10000;
    SetServiceStatus(status_handle, &status);
}

static void log_line(const char *text)
{
    if (!log_path) return;
    HANDLE h = CreateFileW(log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return;
    DWORD written;
    WriteFile(h, "[holdfast-service] ", 19, &written, NULL);
    WriteFile(h, text, (DWORD)strlen(text), &written, NULL);
    WriteFile(h, "\r\n", 2, &written, NULL);
    CloseHandle(h);
}

/* Splits our own command line: --log <file> before the "--" separator, the child command after it. */
static BOOL parse_command_line(void)
{
    wchar_t *line = GetCommandLineW();
    wchar_t *sep = wcsstr(line, L" -- ");
    if (!sep) return FALSE;
    child_cmdline = _wcsdup(sep + 4);
    size_t head_len = (size_t)(sep - line);
    wchar_t *head = (wchar_t *)calloc(head_len + 1, sizeof(wchar_t));
    wmemcpy(head, line, head_len);
    int argc = 0;
    wchar_t **argv = CommandLineToArgvW(head, &argc);
    for (int i = 1; argv && i + 1 < argc; i++) {
        if (wcscmp(argv[i], L"--log") == 0) log_path = _wcsdup(argv[i + 1]);
    }
    if (argv) LocalFree(argv);
    free(head);
    return child_cmdline[0] != 0;
}

#define LOG_ROTATE_BYTES (1024 * 1024)

/* Called while no child holds the log open. */
static void rotate_log(void)
{
    WIN32_FILE_ATTRIBUTE_DATA attrs;
    if (!log_path || !GetFileAttributesExW(log_path, GetFileExInfoStandard, &attrs)) return;
    if (attrs.nFileSizeHigh == 0 && attrs.nFileSizeLow < LOG_ROTATE_BYTES) return;
    size_t n = wcslen(log_path) + 3;
    wchar_t *older = (wchar_t *)calloc(n, sizeof(wchar_t));
    if (!older) return;
    wcscpy(older, log_path);
    wcscat(older, L".1");
    MoveFileExW(log_path, older, MOVEFILE_REPLACE_EXISTING);
    free(older);
}

static HANDLE start_child(void)
{
    rotate_log();
    SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};
    HANDLE out = INVALID_HANDLE_VALUE;
    if (log_path) {
        out = CreateFileW(log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_ALWAYS,
                          FILE_ATTRIBUTE_NORMAL, NULL);
    }
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof(si));
    si.cb = sizeof(si);
    if (out != INVALID_HANDLE_VALUE) {
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = NULL;
        si.hStdOutput = out;
        si.hStdError = out;
    }
    /* CreateProcessW may modify the buffer it is given. */
    wchar_t *cmd = _wcsdup(child_cmdline);
    BOOL ok = CreateProcessW(NULL, cmd, NULL, NULL, out != INVALID_HANDLE_VALUE, CREATE_NO_WINDOW | CREATE_SUSPENDED,
                             NULL, NULL, &si, &pi);
    free(cmd);
    if (out != INVALID_HANDLE_VALUE) CloseHandle(out);
    if (!ok) {
        log_line("could not start the agent process");
        return NULL;
    }
    AssignProcessToJobObject(job, pi.hProcess);
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    log_line("agent process started");
    return pi.hProcess;
}

static DWORD WINAPI control_handler(DWORD control, DWORD type, LPVOID data, LPVOID context)
{
    (void)type; (void)data; (void)context;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        set_state(SERVICE_STOP_PENDING, NO_ERROR);
        SetEvent(stop_event);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc; (void)argv;
    status_handle = RegisterServiceCtrlHandlerExW(L"", control_handler, NULL);
    if (!status_handle) return;
    set_state(SERVICE_START_PENDING, NO_ERROR);
    stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    job = CreateJobObjectW(NULL, NULL);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits;
    ZeroMemory(&limits, sizeof(limits));
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof(limits));
    /* The first start happens before RUNNING is reported, so "started" means the agent process exists. */
    HANDLE child = start_child();
    set_state(SERVICE_RUNNING, NO_ERROR);

    DWORD delay = 1000;
    for (;;) {
        DWORD started = GetTickCount();
        if (child) {
            HANDLE waits[2] = {stop_event, child};
            DWORD which = WaitForMultipleObjects(2, waits, FALSE, INFINITE);
            if (which == WAIT_OBJECT_0) {
                TerminateJobObject(job, 0);
                WaitForSingleObject(child, 10000);
                CloseHandle(child);
                break;
            }
            DWORD code = 0;
            GetExitCodeProcess(child, &code);
            CloseHandle(child);
            char msg[96];
            wsprintfA(msg, "agent process exited with code %lu; restarting", (unsigned long)code);
            log_line(msg);
            /* A child that ran for a while earns a quick restart; a crash loop backs off. */
            if (GetTickCount() - started > 60000) delay = 1000;
        }
        if (WaitForSingleObject(stop_event, delay) == WAIT_OBJECT_0) break;
        delay = delay >= 30000 ? 60000 : delay * 2;
        child = start_child();
    }
    log_line("service stopped");
    CloseHandle(job);
    set_state(SERVICE_STOPPED, NO_ERROR);
}

/* Rewrites an existing installer.json as {"owner":"<code>"}; does nothing when there is no earlier config. */
static int set_owner(const wchar_t *file, const wchar_t *owner)
{
    if (GetFileAttributesW(file) == INVALID_FILE_ATTRIBUTES) return 0;
    for (const wchar_t *p = owner; *p; p++) {
        if (!(iswxdigit(*p) || *p == L'{' || *p == L'}' || *p == L'-')) return 2;
    }
    char json[128];
    int n = wsprintfA(json, "{\"owner\":\"%ls\"}\r\n", owner);
    HANDLE h = CreateFileW(file, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return 1;
    DWORD written;
    BOOL ok = WriteFile(h, json, (DWORD)n, &written, NULL);
    CloseHandle(h);
    return ok ? 0 : 1;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 4 && wcscmp(argv[1], L"--set-owner") == 0 && wcslen(argv[3]) < 64) return set_owner(argv[2], argv[3]);
    if (!parse_command_line()) {
        fputws(L"usage: holdfast-service.exe [--log <file>] -- <agent command line>\n", stderr);
        return 2;
    }
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)L"", service_main}, {NULL, NULL}};
    if (!StartServiceCtrlDispatcherW(table)) {
        fputws(L"holdfast-service.exe runs only as a Windows service (started by the Service Control Manager)\n", stderr);
        return 1;
    }
    return 0;
}
