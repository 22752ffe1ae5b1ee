# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 湖北科技金融政策压力测试：中文速览
#
# 本笔记本以中文回答方案的几个核心问题：正常年份和不利年份各方分别承担多少损失？风险补偿
# 资金池何时可能耗尽？各级财政要花多少钱？调整一项政策杠杆会带来什么变化？
#
# 所有数字均为蒙特卡洛估计，并附标准误；金额以万元、亿元显示，概率以百分比显示。表格中的
# 指标名称来自 `simpool/analysis/glossary.toml`（术语表，审阅人可直接修改）。模拟路径数取
# 环境变量 `SIMPOOL_PATHS`（默认 20,000 条）。

# %%
import os

os.environ.setdefault("SIMPOOL_LANG", "zh")  # 表格、图表均用中文（英文：SIMPOOL_LANG=en）

import matplotlib.pyplot as plt

import simpool
from simpool import plots
from simpool.analysis.compare import compare
from simpool.analysis.headline import headline

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
BASE = simpool.example("hubei_base")  # 通过软件包找到情景文件：笔记本复制到任何位置均可运行

res = simpool.simulate(BASE, paths=PATHS)
res  # 主要结果：全部年份的各方损失、尾部风险、财政成本，以及末年的资金池与担保机构风险

# %% [markdown]
# ## 一、各方承担多少损失
# “最终口径”是模拟期内发生的违约最终由各方承担的部分（期末尚未完成的代偿和追偿按最终分担
# 比例计入），各方之和等于总损失；“期内现金口径”是期内实际支付减去实际收回。

# %%
s = res.summary()
parties = ["bank", "guarantor", "reguarantor", "national_fund", "government",
           "compensation_pool", "insurer", "insurance_pool", "gross"]
simpool.readable(s[s.year.isna() & s.measure.isin(parties) & (s.statistic == "EL")
                   & (s.basis == "ultimate") & (s["product"] == "")])

# %%
plots.who_pays(res);  # 按违约年份，最终口径

# %% [markdown]
# ## 二、风险补偿资金池能否支撑
# 各资金池到某年末已耗尽的概率（累计）。

# %%
simpool.readable(s[s.measure.str.startswith("pool:") & (s.statistic == "P(depleted by year)")])

# %%
plots.pool_survival(res);

# %% [markdown]
# ## 三、各级财政的成本
# 财政预算资金按政府层级的净现值（期内现金口径，按情景贴现率折现）；国有资本（国家融资担保
# 基金、省再担保）不计入财政预算。

# %%
simpool.readable(s[s.year.isna() & s.measure.str.match(r"^fiscal(:|$)") & (s.statistic == "NPV")])

# %%
plots.public_money(res);

# %% [markdown]
# ## 四、政策情景比较：担保费率减半
# 在同一组随机数上比较基准情景与“担保费率 0.5%”情景（共同随机数），差值的标准误远小于两次
# 独立模拟之差。

# %%
table = compare(simpool.load_scenario(BASE),
                [simpool.load_scenario(simpool.example("whatif/fee_half"))], paths=PATHS)
simpool.readable(headline(table))

# %%
plots.compare_chart(table)
plt.show()
