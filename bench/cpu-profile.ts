/**
 * Preloaded (`--import`) into a service by `npm run bench` when
 * BENCH_CPU_PROF_DIR is set: records a V8 CPU profile of the whole process
 * and writes it as `<BENCH_CPU_PROF_NAME>-<pid>.cpuprofile` (open it in
 * Chrome DevTools) into that folder when the process exits. Node refuses
 * --cpu-prof in NODE_OPTIONS, hence the inspector session.
 */
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const directory = process.env.BENCH_CPU_PROF_DIR;
if (directory) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // Posts to a session of the same thread complete synchronously.
    session.post('Profiler.stop', (error, result) => {
      if (error) return;
      mkdirSync(directory, { recursive: true });
      writeFileSync(
        path.join(
          directory,
          `${process.env.BENCH_CPU_PROF_NAME ?? 'process'}-${process.pid}.cpuprofile`,
        ),
        JSON.stringify(result.profile),
      );
    });
  });
}
