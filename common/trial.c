/* trial: maps trial states to the names stored in the database and shown to
 * users; see trial.h. */
#include "trial.h"

#include <string.h>

static const char *const names[TRIAL_STATES] = {
    [TRIAL_RUNNING] = "RUNNING", [TRIAL_COMPLETE] = "COMPLETE",
    [TRIAL_PRUNED] = "PRUNED", [TRIAL_FAILED] = "FAILED"};

const char *trial_state_name(trial_state s)
{
    return (unsigned)s < TRIAL_STATES ? names[s] : "UNKNOWN";
}

int trial_state_parse(const char *name)
{
    for (int i = 0; i < TRIAL_STATES; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

int trial_interrupted(const char *failure)
{
    return failure && strncmp(failure, TRIAL_INTERRUPTED, strlen(TRIAL_INTERRUPTED)) == 0;
}
