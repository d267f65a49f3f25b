/*
 * holdfast-msi-ca.dll: the MSI's configure custom action (Binary table, deferred, not impersonated, HideTarget).
 *
 * Secrets (Technician ID, proxy password) must not travel on a command line: endpoint security tools record every
 * process's command line. Windows Installer hands a deferred custom action its data through CustomActionData,
 * which only a DLL (not an EXE) custom action can read (MsiGetProperty). Its layout, set by the type-51 action
 * HF_ConfigureData (installers/win/harden.ts):
 *   line 1      the command line to start: "node.exe" "holdfast-agent.mjs" configure ... --settings-stdin
 *   lines 2...  name=value settings, written to the child's standard input (UTF-8), never to its command line
 * The child's output (which never holds a secret) goes to the MSI log; its exit code decides the install:
 * non-zero fails it (1603) and rolls it back.
 *
 * Built with Debian's mingw-w64:
 *   x86_64-w64-mingw32-gcc -municode -shared -O2 -s -o holdfast-msi-ca.dll holdfast-msi-ca.c -lmsi
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <msi.h>
#include <msiquery.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* One line in the MSI log (INSTALLMESSAGE_INFO). The text goes in field 1, so brackets in it are not formatted. */
static void log_text(MSIHANDLE session, const wchar_t *text)
{
    MSIHANDLE record = MsiCreateRecord(1);
    if (!record) return;
    MsiRecordSetStringW(record, 0, L"HF_Configure: [1]");
    MsiRecordSetStringW(record, 1, text);
    MsiProcessMessage(session, INSTALLMESSAGE_INFO, record);
    MsiCloseHandle(record);
}

/* Logs the child's UTF-8 output line by line. */
static void log_output(MSIHANDLE session, char *utf8)
{
    for (char *line = strtok(utf8, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        int n = MultiByteToWideChar(CP_UTF8, 0, line, -1, NULL, 0);
        wchar_t *wide = n > 0 ? (wchar_t *)calloc((size_t)n, sizeof(wchar_t)) : NULL;
        if (!wide) continue;
        MultiByteToWideChar(CP_UTF8, 0, line, -1, wide, n);
        log_text(session, wide);
        free(wide);
    }
}

static wchar_t *read_custom_action_data(MSIHANDLE session)
{
    wchar_t empty[1] = L"";
    DWORD size = 0;
    UINT r = MsiGetPropertyW(session, L"CustomActionData", empty, &size);
    if (r != ERROR_MORE_DATA && r != ERROR_SUCCESS) return NULL;
    size += 1;
    wchar_t *data = (wchar_t *)calloc(size, sizeof(wchar_t));
    if (data && MsiGetPropertyW(session, L"CustomActionData", data, &size) != ERROR_SUCCESS) {
        free(data);
        return NULL;
    }
    /* Windows runs a deferred action in its own context and refuses this; Wine keeps CustomActionData among the
     * session's properties and prints it at the end of a verbose log, so the secrets are dropped once read. */
    MsiSetPropertyW(session, L"CustomActionData", L"");
    return data;
}

static BOOL write_all(HANDLE h, const char *data, DWORD size)
{
    while (size > 0) {
        DWORD written = 0;
        if (!WriteFile(h, data, size, &written, NULL) || written == 0) return FALSE;
        data += written;
        size -= written;
    }
    return TRUE;
}

/* Output kept for the log; more is read (so the child never blocks on a full pipe) but dropped. */
#define OUTPUT_LIMIT 16384

__declspec(dllexport) UINT __stdcall Configure(MSIHANDLE session)
{
    wchar_t *data = read_custom_action_data(session);
    wchar_t *newline = data ? wcschr(data, L'\n') : NULL;
    if (!newline) {
        log_text(session, L"no CustomActionData (expected a command line, then name=value lines)");
        free(data);
        return ERROR_INSTALL_FAILURE;
    }
    *newline = 0;
    if (newline > data && newline[-1] == L'\r') newline[-1] = 0;
    const wchar_t *settings = newline + 1;
    int input_size = WideCharToMultiByte(CP_UTF8, 0, settings, -1, NULL, 0, NULL, NULL);
    char *input = input_size > 0 ? (char *)calloc((size_t)input_size, 1) : NULL;
    if (input) WideCharToMultiByte(CP_UTF8, 0, settings, -1, input, input_size, NULL, NULL);

    SECURITY_ATTRIBUTES inherit = {sizeof(inherit), NULL, TRUE};
    HANDLE in_read = NULL, in_write = NULL, out_read = NULL, out_write = NULL;
    BOOL pipes = CreatePipe(&in_read, &in_write, &inherit, 0) && CreatePipe(&out_read, &out_write, &inherit, 0);
    if (pipes) {
        SetHandleInformation(in_write, HANDLE_FLAG_INHERIT, 0);
        SetHandleInformation(out_read, HANDLE_FLAG_INHERIT, 0);
    }
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    ZeroMemory(&si, sizeof(si));
    ZeroMemory(&pi, sizeof(pi));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in_read;
    si.hStdOutput = out_write;
    si.hStdError = out_write;
    /* data now holds only the command line (CreateProcessW may modify it). */
    BOOL started = pipes && input && CreateProcessW(NULL, data, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, NULL, &si, &pi);
    if (in_read) CloseHandle(in_read);
    if (out_write) CloseHandle(out_write);
    UINT result = ERROR_INSTALL_FAILURE;
    if (!started) {
        log_text(session, L"could not start the configure command");
    } else {
        CloseHandle(pi.hThread);
        /* The settings are small; the child reads all of its input before it writes output. */
        BOOL sent = write_all(in_write, input, (DWORD)strlen(input));
        CloseHandle(in_write);
        in_write = NULL;
        char *output = (char *)calloc(OUTPUT_LIMIT + 1, 1);
        DWORD kept = 0;
        for (;;) {
            char chunk[4096];
            DWORD got = 0;
            if (!ReadFile(out_read, chunk, sizeof(chunk), &got, NULL) || got == 0) break;
            DWORD room = OUTPUT_LIMIT - kept;
            DWORD take = got < room ? got : room;
            if (output && take) {
                memcpy(output + kept, chunk, take);
                kept += take;
            }
        }
        WaitForSingleObject(pi.hProcess, INFINITE);
        DWORD code = 1;
        GetExitCodeProcess(pi.hProcess, &code);
        CloseHandle(pi.hProcess);
        if (output) {
            log_output(session, output);
            free(output);
        }
        wchar_t line[96];
        wsprintfW(line, L"configure exited with code %lu%ls", (unsigned long)code, sent ? L"" : L" (its settings could not be sent)");
        log_text(session, line);
        if (code == 0 && sent) result = ERROR_SUCCESS;
    }
    if (in_write) CloseHandle(in_write);
    if (out_read) CloseHandle(out_read);
    /* Leave no secret in this process's memory longer than needed. */
    if (input) {
        SecureZeroMemory(input, (SIZE_T)input_size);
        free(input);
    }
    SecureZeroMemory(data, wcslen(data) * sizeof(wchar_t));
    SecureZeroMemory((void *)settings, wcslen(settings) * sizeof(wchar_t));
    free(data);
    return result;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}
