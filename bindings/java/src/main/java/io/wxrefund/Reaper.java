package io.wxrefund;

import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs an action once after its owner became phantom reachable: what
 * {@code java.lang.ref.Cleaner} does on Java 9+, for Java 8.
 *
 * <p>Each {@link Registration} is a {@link PhantomReference} to its owner, kept strongly
 * reachable in {@link #PENDING} until it has run. The queue is drained by a daemon thread,
 * {@code wxrefund-reaper}, started when the first registration is made and ending after a
 * minute with nothing registered, so no thread is left behind once every client is gone (and
 * none pins the class loader of an undeployed application); and by every
 * {@link #register} and every {@link Registration#clean()}, so owners are reaped even where
 * no thread may be started.
 *
 * <p>An action must not refer to its owner, or the owner never becomes phantom reachable.
 */
final class Reaper {
    /** How long the thread waits with nothing registered before it ends. */
    private static final long IDLE_MILLIS = TimeUnit.MINUTES.toMillis(1);

    private static final ReferenceQueue<Object> QUEUE = new ReferenceQueue<>();
    /** Registrations not yet run: this keeps the references themselves reachable. */
    private static final Set<Registration> PENDING = ConcurrentHashMap.newKeySet();
    /** Guards {@link #thread}. */
    private static final Object LOCK = new Object();
    /** The running reaper thread, or null. */
    private static Thread thread;

    private Reaper() {}

    /**
     * Registers {@code action} to run once when {@code owner} becomes phantom reachable, or
     * when {@link Registration#clean()} is called, whichever comes first.
     */
    static Registration register(Object owner, Runnable action) {
        drain();
        Registration registration = new Registration(owner, action);
        PENDING.add(registration);
        synchronized (LOCK) {
            if (thread == null) {
                try {
                    Thread started = new Thread(Reaper::reap, "wxrefund-reaper");
                    started.setDaemon(true);
                    started.setContextClassLoader(null);
                    started.start();
                    thread = started;
                } catch (Throwable cannotStart) {
                    // No thread (a security policy, or out of threads): owners are reaped by
                    // drain() on later registrations and cleans instead.
                }
            }
        }
        return registration;
    }

    /** Runs the registrations whose owners the collector found unreachable, without waiting. */
    static void drain() {
        Reference<?> reference;
        while ((reference = QUEUE.poll()) != null) {
            ((Registration) reference).runQuietly();
        }
    }

    /** The thread: waits for owners to become unreachable; ends when idle. */
    private static void reap() {
        while (true) {
            Reference<?> reference;
            try {
                reference = QUEUE.remove(IDLE_MILLIS);
            } catch (InterruptedException e) {
                continue; // not ours to stop: interrupts are ignored, as Cleaner's thread does
            }
            if (reference != null) {
                ((Registration) reference).runQuietly();
                continue;
            }
            synchronized (LOCK) {
                if (PENDING.isEmpty()) {
                    thread = null; // register() starts a new one when needed
                    return;
                }
            }
        }
    }

    /** One owner and its action: runs at most once (the {@link AtomicBoolean}). */
    static final class Registration extends PhantomReference<Object> {
        private final AtomicBoolean done = new AtomicBoolean();
        private final Runnable action;

        private Registration(Object owner, Runnable action) {
            super(owner, QUEUE);
            this.action = action;
        }

        /** Runs the action now unless it has run; it will not run again. */
        void clean() {
            try {
                if (done.compareAndSet(false, true)) {
                    PENDING.remove(this);
                    clear();
                    action.run();
                }
            } finally {
                drain();
            }
        }

        /** {@link #clean()} for the reaper: a failing action must not stop the reaping. */
        private void runQuietly() {
            if (done.compareAndSet(false, true)) {
                PENDING.remove(this);
                try {
                    action.run();
                } catch (Throwable ignored) {
                    // Nothing to report to: the owner is gone (Cleaner ignores it too).
                }
            }
        }
    }
}
