"""A remote-class program in PARL's shape (examples/ES): parl.connect, @parl.remote_class actors,
futures from wait=False calls, and a learner that combines their results (evolution strategies on
a linear CartPole policy)."""

import argparse
import json

import numpy as np

import fastparl as parl
from actor import Actor
from fastparl.utils import logger
from fastparl.utils.time_stat import TimeStat
from fastparl.utils.window_stat import WindowStat


def main(args):
    np.random.seed(args.seed)
    parl.connect('localhost:8010')  # PARL: after `xparl start`; fastparl runs the actors locally
    actors = [Actor(args.seed + i, args.max_steps) for i in range(args.actor_num)]

    theta = np.zeros(5)
    reward_stat = WindowStat(3)
    sample_time = TimeStat(10)
    history = []
    for it in range(args.iterations):
        noise = np.random.randn(args.pop_size, 5)
        candidates = np.concatenate([theta + args.sigma * noise, theta - args.sigma * noise])
        with sample_time:
            futures = [actor.evaluate(part) for actor, part in zip(actors, np.array_split(candidates, len(actors)))]
            returns = np.concatenate([future.get() for future in futures])
        ranks = np.argsort(np.argsort(returns)) / (len(returns) - 1) - 0.5  # centred ranks
        theta += args.lr / (args.pop_size * args.sigma) * (ranks[:args.pop_size] - ranks[args.pop_size:]) @ noise
        reward_stat.add(returns.mean())
        history.append(float(returns.mean()))
        logger.info('iteration {}: mean return {:.1f}, sample time {:.3f} s'.format(it, returns.mean(),
                                                                                     sample_time.mean))
    print('RESULT ' + json.dumps({'first': history[0], 'last': float(reward_stat.mean), 'max_steps': args.max_steps}))


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--actor_num', type=int, default=2)
    parser.add_argument('--iterations', type=int, default=20)
    parser.add_argument('--pop_size', type=int, default=8)
    parser.add_argument('--sigma', type=float, default=0.5)
    parser.add_argument('--lr', type=float, default=0.5)
    parser.add_argument('--max_steps', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    main(parser.parse_args())
